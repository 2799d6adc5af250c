// Compile the OARN contracts with the pinned solc-js and write the ABI + bytecode artifacts that
// the Python package ships (oarn_tui/chain/artifacts/), deterministically (sorted keys).
//
// v1 (src/*.sol) is written to artifacts/, v2 (src/v2/*.sol) to artifacts/v2/, each compiled on its
// own with the same pinned compiler and settings and each with its own _build.json.
//
//   node build.mjs           rebuild the artifacts in place
//   node build.mjs --check   rebuild in memory; exit 1 if the committed artifacts differ (CI)
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");

const HERE = dirname(fileURLToPath(import.meta.url));
const ARTIFACT_DIR = resolve(HERE, "..", "oarn_tui", "chain", "artifacts");
const EVM_VERSION = "cancun"; // runs on anvil and on py-evm (Prague is a superset)
const OPTIMIZER_RUNS = 200;
const CONTRACTS = ["COMPToken", "ENSRegistry", "GOVToken", "OARNRegistry", "PublicResolver", "TaskRegistry", "UniversalResolver"];
const V2_CONTRACTS = ["COMPTokenV2", "GOVTokenV2", "ModelRegistry", "OARNGovernor", "OARNRegistryV2", "OARNTimelock", "TaskMarket"];
/** One compilation each: its sources (relative to contracts/), contracts and artifact folder. */
const TARGETS = [
  { sourcePrefix: "src", contracts: CONTRACTS, artifactDir: ARTIFACT_DIR },
  { sourcePrefix: "src/v2", contracts: V2_CONTRACTS, artifactDir: join(ARTIFACT_DIR, "v2") },
];
const METADATA_FILE = "_build.json";

/** JSON with object keys sorted at every level, two-space indent and a final newline. */
function stableJson(value) {
  const sortKeys = (item) => {
    if (Array.isArray(item)) return item.map(sortKeys);
    if (item && typeof item === "object") {
      return Object.fromEntries(Object.keys(item).sort().map((key) => [key, sortKeys(item[key])]));
    }
    return item;
  };
  return JSON.stringify(sortKeys(value), null, 2) + "\n";
}

/** Resolve imports from node_modules (OpenZeppelin); every source read is recorded for the hash. */
function makeImportReader(readSources) {
  return (path) => {
    const file = join(HERE, "node_modules", path);
    if (!existsSync(file)) return { error: `import not found: ${path}` };
    const contents = readFileSync(file, "utf8");
    readSources[path] = contents;
    return { contents };
  };
}

function compile({ sourcePrefix, contracts: CONTRACTS }) {
  const sources = {};
  const sourceDir = join(HERE, sourcePrefix);
  for (const name of readdirSync(sourceDir).filter((file) => file.endsWith(".sol")).sort()) {
    sources[`${sourcePrefix}/${name}`] = { content: readFileSync(join(sourceDir, name), "utf8") };
  }
  const input = {
    language: "Solidity",
    sources,
    settings: {
      evmVersion: EVM_VERSION,
      optimizer: { enabled: true, runs: OPTIMIZER_RUNS },
      metadata: { appendCBOR: false, bytecodeHash: "none" },
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  const imported = {};
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: makeImportReader(imported) }));
  const errors = (output.errors || []).filter((entry) => entry.severity === "error");
  for (const entry of output.errors || []) {
    const ownSource = !entry.sourceLocation || entry.sourceLocation.file.startsWith("src/");
    if (entry.severity !== "error" && ownSource) console.error(entry.formattedMessage);
  }
  if (errors.length > 0) {
    for (const entry of errors) console.error(entry.formattedMessage);
    throw new Error(`solc reported ${errors.length} error(s)`);
  }

  const allSources = { ...Object.fromEntries(Object.entries(sources).map(([k, v]) => [k, v.content])), ...imported };
  const hash = createHash("sha256");
  const sourceFiles = {};
  for (const path of Object.keys(allSources).sort()) {
    hash.update(path).update("\0").update(allSources[path]).update("\0");
    sourceFiles[path] = createHash("sha256").update(allSources[path]).digest("hex");
  }

  const files = {};
  for (const name of CONTRACTS) {
    const unit = output.contracts[`${sourcePrefix}/${name}.sol`];
    if (!unit || !unit[name]) throw new Error(`contract ${name} missing from compiler output`);
    const contract = unit[name];
    files[`${name}.json`] = stableJson({
      abi: contract.abi,
      bytecode: "0x" + contract.evm.bytecode.object,
      contractName: name,
      deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
      sourceName: `${sourcePrefix}/${name}.sol`,
    });
  }
  const openzeppelin = JSON.parse(readFileSync(join(HERE, "node_modules/@openzeppelin/contracts/package.json"), "utf8"));
  files[METADATA_FILE] = stableJson({
    compiler: solc.version(),
    contracts: CONTRACTS,
    evmVersion: EVM_VERSION,
    openzeppelin: openzeppelin.version,
    optimizer: { enabled: true, runs: OPTIMIZER_RUNS },
    sourceFiles,
    sourcesSha256: hash.digest("hex"),
  });
  return files;
}

function check(files, ARTIFACT_DIR) {
  const stale = [];
  for (const [name, text] of Object.entries(files)) {
    const path = join(ARTIFACT_DIR, name);
    if (!existsSync(path) || readFileSync(path, "utf8") !== text) stale.push(name);
  }
  const extra = existsSync(ARTIFACT_DIR)
    ? readdirSync(ARTIFACT_DIR).filter((name) => name.endsWith(".json") && !(name in files))
    : [];
  if (stale.length > 0 || extra.length > 0) {
    console.error(`stale artifacts: ${[...stale, ...extra].join(", ")}; run: node contracts/build.mjs`);
    return 1;
  }
  console.log(`artifacts up to date (${Object.keys(files).length} files)`);
  return 0;
}

function write(files, ARTIFACT_DIR) {
  mkdirSync(ARTIFACT_DIR, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    const path = join(ARTIFACT_DIR, name);
    const temp = `${path}.tmp`;
    writeFileSync(temp, text);
    renameSync(temp, path);
  }
  for (const name of readdirSync(ARTIFACT_DIR)) {
    if (name.endsWith(".json") && !(name in files)) rmSync(join(ARTIFACT_DIR, name));
  }
  console.log(`wrote ${Object.keys(files).length} files to ${ARTIFACT_DIR}`);
  return 0;
}

try {
  let status = 0;
  for (const target of TARGETS) {
    const files = compile(target);
    const result = process.argv.includes("--check") ? check(files, target.artifactDir) : write(files, target.artifactDir);
    status = Math.max(status, result);
  }
  process.exit(status);
} catch (error) {
  console.error(`build failed: ${error.message}`);
  process.exit(2);
}
