// `node scripts/function-length.mjs [--max 80]`: lists functions longer than
// --max lines under scoring/, config/, domain/ and worker/, and fails when one
// has no comment saying why it is long (a JSDoc or line comment just above it
// containing "long:"). Run by `npm run lint`.
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { glob } from 'tinyglobby';
import { ROOT } from './lib/dist-paths.mjs';

const i = process.argv.indexOf('--max');
const MAX = i === -1 ? 80 : Number(process.argv[i + 1]);
const files = await glob(['scoring/**/*.ts', 'config/**/*.ts', 'domain/**/*.ts', 'worker/**/*.{ts,cts}'], { cwd: ROOT });
let bad = 0;
let long = 0;
for (const rel of files.sort()) {
  const text = readFileSync(join(ROOT, rel), 'utf8');
  const sf = ts.createSourceFile(rel, text, ts.ScriptTarget.ES2022, true);
  const visit = (node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      if (lines > MAX) {
        long++;
        // The comment that explains it sits above the statement that holds the function.
        let holder = node;
        // The function's own statement or property: a comment on an enclosing object does not cover its methods.
        while (
          holder.parent &&
          !ts.isSourceFile(holder.parent) &&
          !ts.isClassLike(holder.parent) &&
          !ts.isBlock(holder.parent) &&
          !ts.isPropertyAssignment(holder) &&
          !ts.isObjectLiteralExpression(holder.parent)
        )
          holder = holder.parent;
        const comments = ts.getLeadingCommentRanges(text, holder.getFullStart()) ?? [];
        const why = comments.some((c) => /\blong:/i.test(text.slice(c.pos, c.end)));
        const name = node.name?.getText(sf) ?? '(anonymous)';
        console.log(`${why ? 'ok  ' : 'LONG'} ${relative(ROOT, join(ROOT, rel))}:${start + 1} ${name} ${lines} lines`);
        if (!why) bad++;
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
}
console.log(`functions over ${MAX} lines: ${long}, without a stated reason: ${bad}`);
process.exitCode = bad === 0 ? 0 : 1;
