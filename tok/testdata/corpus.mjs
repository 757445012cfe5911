// The golden corpus of package tok's tokenizer fixtures: 2,100 strings,
// deterministic (a fixed-seed LCG): English prose, code, whitespace runs,
// tabs and newlines, digits, contractions, accents, CJK, emoji, U+FFFD (what
// invalid UTF-8 becomes in a JavaScript string), the empty string and
// special-token strings (specials: the tokenizer's own, passed in).
export function makeCorpus(specials = ["<|endoftext|>", "a<|endoftext|>b", " <|endoftext|> ", "<|endoftext|><|endoftext|>", "<|endoftext"]) {
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
  return corpus;
}
