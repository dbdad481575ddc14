// The import rules of src/ (docs/architecture.md, "Layers and allowed imports"), checked by
// dependency-cruiser in the test suite (test/architecture/layers.test.ts) and by
// `npm run lint:deps`. A file imports from its own folder and from layers below it:
//   cli → node → operator/ui → actors/frameworks/discovery → raft/isolation/events/resources/security
//   → runtime/metrics → gen
// plus the sideways rules below, and no cycles anywhere.
/* eslint-env node */
const layers = [
  ["gen"],
  ["runtime", "metrics"],
  ["raft", "isolation", "events", "resources", "security", "protocol"],
  ["actors", "frameworks", "discovery"],
  ["operator", "ui"],
  ["node"],
  ["cli"],
];

const folder = (names) => `^src/(${names.join("|")})/`;

// One rule per layer: nothing in it imports from a layer above.
const upward = layers.slice(0, -1).map((names, index) => ({
  name: `layer-${names.join("-")}-imports-upward`,
  comment: `${names.join(", ")} may not import from a layer above it (${layers.slice(index + 1).flat().join(", ")})`,
  severity: "error",
  from: { path: folder(names) },
  to: { path: folder(layers.slice(index + 1).flat()) },
}));

// Folders of one layer that must not import each other.
const sideways = [
  {
    name: "operator-ui-sideways",
    comment: "operator and ui are siblings: neither imports the other (shared pieces live below)",
    from: { path: "^src/operator/" },
    to: { path: "^src/ui/" },
  },
  {
    name: "ui-operator-sideways",
    comment: "operator and ui are siblings: neither imports the other (shared pieces live below)",
    from: { path: "^src/ui/" },
    to: { path: "^src/operator/" },
  },
  {
    name: "operator-ui-read-master-core",
    comment: "HTTP and UI code reads the master through its read-only view (actors/master/master-view.ts), never the writable state",
    from: { path: "^src/(operator|ui)/" },
    to: { path: "^src/actors/master/master-state\\.ts$" },
  },
  {
    name: "containerizers-sideways",
    comment: "the posix and Docker containerizers share container-table.ts, container-config.ts and containerizer.ts, not each other",
    from: { path: "^src/isolation/(docker|posix)\\.ts$" },
    to: { path: "^src/isolation/(docker|posix)\\.ts$" },
  },
  {
    name: "operator-ui-read-agent-internals",
    comment: "HTTP code reads the agent through its read-only view, never the agent's records",
    from: { path: "^src/(operator|ui)/" },
    to: { path: "^src/actors/agent/agent-records\\.ts$" },
  },
  {
    name: "frameworks-discovery-are-clients",
    comment: "first-party frameworks and discovery are clients: they use the scheduler and executor drivers, never the master, agent or allocator",
    from: { path: "^src/(frameworks|discovery)/" },
    to: { path: "^src/actors/(master|agent|allocator)/" },
  },
  {
    name: "master-imports-agent-or-drivers",
    comment: "the master shares protocol messages (and resources/runtime) with the agent and the drivers, not code",
    from: { path: "^src/actors/master/" },
    to: { path: "^src/actors/(agent|scheduler-driver|executor-driver)/" },
  },
  {
    name: "agent-imports-master-or-drivers",
    comment: "the agent shares protocol messages (and resources/runtime/isolation) with the master and the drivers, not code",
    from: { path: "^src/actors/agent/" },
    to: { path: "^src/actors/(master|allocator|scheduler-driver|executor-driver)/" },
  },
  {
    name: "allocator-imports-master-or-agent",
    comment: "the allocator is a plug-in of the master: it sees resources, not the master's or the agent's code",
    from: { path: "^src/actors/allocator/" },
    to: { path: "^src/actors/(master|agent|scheduler-driver|executor-driver)/" },
  },
  {
    name: "drivers-import-cluster-actors",
    comment: "the driver libraries are what frameworks link: they do not pull in the master, agent or allocator",
    from: { path: "^src/actors/(scheduler-driver|executor-driver)/" },
    to: { path: "^src/actors/(master|agent|allocator)/" },
  },
].map((rule) => ({ severity: "error", ...rule }));

module.exports = {
  forbidden: [
    ...upward,
    ...sideways,
    {
      name: "no-circular",
      comment:
        "import cycles, `import type` ones included, make the order of module evaluation matter and hide which piece is below which: the shared type moves down to where it belongs (or the lower piece declares the interface it needs)",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "not-to-unresolvable",
      comment: "an import that does not resolve to a file",
      severity: "error",
      from: { path: "^src/" },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    includeOnly: "^src/",
    exclude: { path: "^src/(gen|ui/web)/" },
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".js", ".d.ts"],
    },
  },
};
