/**
 * The dependency rules of docs/architecture.md, checked by `npm run depcheck`
 * (part of `npm test`). Rooms are ordered from the bottom up; a room imports
 * only rooms below it. Type-only imports count too: a type that points upward
 * is still a dependency a reader has to follow.
 */
const PURE = ['scoring', 'config', 'domain'];
/** worker/ rooms from the bottom up; each may import the ones before it. */
const ROOMS = ['core', 'store', 'sources', 'media', 'stats', 'pool', 'snapshot', 'round', 'queue', 'merge', 'app', 'daemon', 'demo', 'cli'];

const upward = ROOMS.flatMap((room, i) => {
  const higher = ROOMS.slice(i + 1);
  if (higher.length === 0) return [];
  return [{
    name: `worker-${room}-upward`,
    comment: `worker/${room}/ imports a higher room (${higher.join(', ')}); see docs/architecture.md`,
    severity: 'error',
    from: { path: `^worker/${room}/` },
    to: { path: `^worker/(${higher.join('|')})/` },
  }];
});

module.exports = {
  forbidden: [
    { name: 'no-cycles', comment: 'an import cycle', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'pure-stays-pure',
      comment: 'scoring/, config/ and domain/ are pure: no worker/, no I/O modules',
      severity: 'error',
      from: { path: `^(${PURE.join('|')})/` },
      // dependency-cruiser names node: builtins without the prefix (node:fs/promises is fs/promises).
      to: {
        path: [
          '^worker/',
          '^(node:)?(fs|fs/promises|child_process|net|http|https|http2|worker_threads|dgram|dns|dns/promises|tls|stream|stream/promises|readline|os|process|cluster|inspector|v8|vm)$',
          '@google-cloud',
          'piscina',
          '@duckdb',
          'parquet-wasm',
          'prom-client',
        ],
      },
    },
    { name: 'scoring-at-bottom', comment: 'scoring/ imports only scoring/', severity: 'error', from: { path: '^scoring/' }, to: { path: '^(config|domain|worker)/' } },
    { name: 'config-below-domain', comment: 'config/ imports only scoring/ and config/', severity: 'error', from: { path: '^config/' }, to: { path: '^(domain|worker)/' } },
    { name: 'no-worker-loose-files', comment: 'every worker module lives in a room', severity: 'error', from: { path: '^worker/[^/]+$' }, to: {} },
    { name: 'no-test-imports-in-code', severity: 'error', from: { path: '^(scoring|config|domain|worker)/' }, to: { path: '^test/' } },
    ...upward,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.cts', '.js', '.cjs'] },
  },
};
