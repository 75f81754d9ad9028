/**
 * The layer rules of docs/architecture.md, checked by `npm run depcheck` (and in .ci/run).
 * Type-only imports count: a layer that names a higher layer's types depends on it too.
 */
const WIRING = '^src/(api|cli|pipeline|console)/';
const ORCHESTRATORS = '^src/(privacy/(erase|erasure|retention|scrub|deleted-people)\\.ts|realtime/)';

/** Folders (and files) of one layer and what each may import besides itself. */
const layer = (name, from, allowed) => ({
  name,
  severity: 'error',
  comment: `${name}: see docs/architecture.md, "Folders"`,
  from: { path: from },
  to: { path: '^(src|connectors)/', pathNot: [from, ...allowed] },
});

const CONTRACT = '^src/contract/';
const BASE = [
  CONTRACT,
  '^src/storage/',
  '^src/config/',
  '^src/log(-settings)?\\.ts$',
  '^src/fault-point\\.ts$',
  '^src/redis/',
];
const PRIVACY_LEAVES = '^src/privacy/(identifiers|suppression|suppression-check)\\.ts$';
const STAGES = [...BASE, '^src/engine/', '^src/ingest/', '^src/export/', PRIVACY_LEAVES, '^src/compaction/'];

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules must not import each other in a cycle (type-only imports excepted).',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    layer('contract imports nothing of ours', CONTRACT, []),
    layer('storage and config import only the contract', '^src/(storage|config)/', [CONTRACT]),
    layer(
      'log, fault points and redis clients are infrastructure',
      '^src/(log\\.ts|log-settings\\.ts|fault-point\\.ts|redis/)',
      [CONTRACT, '^src/config/', '^src/log(-settings)?\\.ts$'],
    ),
    layer('connectors import only the contract', '^connectors/', [CONTRACT]),
    layer('the engine imports contract and storage', '^src/engine/', BASE),
    layer('ingest and export read the privacy leaves only', '^src/(ingest|export)/', [
      ...BASE,
      '^src/(ingest|export)/',
      PRIVACY_LEAVES,
    ]),
    layer('privacy leaves import storage and the connectors normalization', PRIVACY_LEAVES, [
      ...BASE,
      '^connectors/core/normalize\\.ts$',
    ]),
    layer('compaction', '^src/compaction/', [...BASE, '^src/engine/']),
    layer('people and audiences', '^src/(people|audiences|generate)/', [
      ...STAGES,
      '^src/(people|audiences)/',
    ]),
    layer('sync and measure', '^src/(sync|measure)/', [
      ...STAGES,
      '^src/(people|audiences|sync|measure)/',
      '^connectors/',
    ]),
    layer('the composed configuration reads each stage\'s settings', '^src/config-file\\.ts$', [
      ...STAGES,
      '^src/audiences/',
      '^src/privacy/(config|retention-config)\\.ts$',
      '^src/realtime/config\\.ts$',
    ]),
    layer('health reads every stage, never the wiring', '^src/health/', [
      ...STAGES,
      '^src/(people|audiences|sync|measure|health)/',
      '^src/config-file\\.ts$',
    ]),
    layer('orchestrators run stages like the pipeline does', ORCHESTRATORS, [
      ...STAGES,
      '^src/(people|audiences|sync|measure|privacy|realtime)/',
      '^connectors/',
      '^src/config-file\\.ts$',
      '^src/pipeline/(stages|targets)\\.ts$',
    ]),
    {
      name: 'only the wiring imports the wiring',
      severity: 'error',
      comment: 'api, cli, pipeline and console wire stages together; nothing below imports them (docs/architecture.md)',
      from: { path: '^(src|connectors)/', pathNot: [WIRING, ORCHESTRATORS] },
      to: { path: WIRING },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(node_modules|dist|test|bench)/' },
  },
};
