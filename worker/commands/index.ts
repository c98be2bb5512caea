/**
 * Command modules beyond the core loop (score, reduce, run, push-annotations, …).
 * Each exports one `register(program, env)`; adding a command is one line here.
 */
import type { Command } from 'commander';
import type { CommandEnv } from '../cli.js';
import { register as registerPushAnnotations } from './push-annotations.js';
import { register as registerResign } from './resign.js';
import { register as registerRun } from './run.js';
import { register as registerScore } from './score.js';

export type RegisterCommands = (program: Command, env: CommandEnv) => void;

export const COMMAND_MODULES: RegisterCommands[] = [registerRun, registerScore, registerPushAnnotations, registerResign];
