// The peer of tok's BenchmarkGPT2Encode: @huggingface/tokenizers (pure JS)
// encoding the same text with the same GPT-2 tokenizer.json. Run by hand:
//   node bench/tokenize_node.mjs <node_modules dir with @huggingface/tokenizers>
// and compare with: go test ./tok -run XXX -bench BenchmarkGPT2Encode
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(path.join(process.argv[2], "x.js"));
const { Tokenizer } = require("@huggingface/tokenizers");
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const gz = (p) => zlib.gunzipSync(fs.readFileSync(path.join(root, p))).toString("utf8");
const tk = new Tokenizer(JSON.parse(gz("tok/testdata/gpt2/tokenizer.json.gz")), { eos_token: "<|endoftext|>" });
let text = "";
for (const line of gz("tok/testdata/gpt2/golden.jsonl.gz").split("\n")) {
  if (line) text += JSON.parse(line).text + " ";
}
while (Buffer.byteLength(text) < 1 << 20) text += text;
tk.encode(text); // warm up (caches, JIT), as the Go benchmark's first iteration
const runs = 3;
let tokens = 0;
const t0 = process.hrtime.bigint();
for (let i = 0; i < runs; i++) tokens += tk.encode(text).ids.length;
const s = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(JSON.stringify({ bytes: Buffer.byteLength(text), tokens_per_run: tokens / runs, tokens_per_s: tokens / s, seconds_per_run: s / runs }));
