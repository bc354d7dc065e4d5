#!/usr/bin/env node
// make_golden_node.js: the same golden files as make_golden.py, made with the node
// bindings of the same Rust library (npm package `tokenizers`), for machines whose
// python3 lacks the `tokenizers` package. The texts and tiny tokenizers come from
// make_golden.py --emit-inputs, so both generators share one definition.
//
// Usage: NODE_PATH=<dir with node_modules/tokenizers> node make_golden_node.js \
//            <TinyStories-656K dir> <shared data dir> [out dir]
"use strict";
const { execFileSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { Tokenizer } = require("tokenizers");

async function encodeCases(tok, texts) {
  const cases = [];
  for (const text of texts) {
    for (const add of [true, false]) {
      const enc = await tok.encode(text, null, { addSpecialTokens: add });
      cases.push({ text, add_special_tokens: add, ids: Array.from(enc.getIds()) });
    }
  }
  return cases;
}

// One line per case, as make_golden.py writes it.
function compact(obj, indent = "") {
  const inner = indent + " ";
  if (obj && typeof obj === "object" && !Array.isArray(obj) &&
      Object.values(obj).some((v) => Array.isArray(v) && v.length && typeof v[0] === "object")) {
    const items = Object.entries(obj).map(([k, v]) => `${inner}${JSON.stringify(k)}: ${compact(v, inner)}`);
    return "{\n" + items.join(",\n") + "\n" + indent + "}";
  }
  if (Array.isArray(obj) && obj.length && typeof obj[0] === "object" && !Array.isArray(obj[0])) {
    return "[\n" + obj.map((v) => inner + compact(v, inner)).join(",\n") + "\n" + indent + "]";
  }
  return JSON.stringify(obj);
}

function writeJson(file, obj) {
  fs.writeFileSync(file, compact(obj) + "\n");
  console.log("wrote", file);
}

async function main() {
  const [modelDir, dataDir, outArg] = process.argv.slice(2);
  const outDir = outArg || __dirname;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mcomp-golden-"));
  execFileSync("python3", [path.join(__dirname, "make_golden.py"), "--emit-inputs", tmp]);
  const inputs = JSON.parse(fs.readFileSync(path.join(tmp, "inputs.json"), "utf8"));
  const pkg = require("tokenizers/package.json");
  const generator = `tokenizers ${pkg.version} (node)`;

  const tok = Tokenizer.fromFile(path.join(modelDir, "tokenizer.json"));
  const counts = [];
  for (const rel of inputs.count_files) {
    const text = fs.readFileSync(path.join(dataDir, rel), "utf8");
    const enc = await tok.encode(text, null, { addSpecialTokens: true });
    counts.push({ file: rel, add_special_tokens: true, num_tokens: enc.getIds().length });
  }
  writeJson(path.join(outDir, "tinystories656k.json"), {
    generator, model: "TinyStories-656K",
    cases: await encodeCases(tok, inputs.golden_texts), counts });

  for (const [file, set] of Object.entries(inputs.tiny)) {
    const variants = [];
    for (const [name, spec] of Object.entries(set.variants)) {
      const t = Tokenizer.fromString(JSON.stringify(spec));
      variants.push({ name, tokenizer: spec, cases: await encodeCases(t, set.texts) });
    }
    writeJson(path.join(outDir, file), { generator, variants });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
