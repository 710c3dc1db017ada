/**
 * Parser for /etc/ltsp/ltsp.conf, the subset of shell that LTSP's `ini2sh` turns into
 * functions (ltsp/common/ltsp/55-config.sh). Pure: text in, document out.
 *
 * Understood:
 *   - `[section]` headers, lower-cased; glob headers (`[192.168.67.*]`, `[3c:07:71:*]`,
 *     `[b8:27:eb:*|dc:a6:32:*]`), named and `[applet/host]` sections; text before the
 *     first header belongs to the section "unnamed";
 *   - `KEY=value` with spaces around the first `=` stripped (as ini2sh does), values as
 *     one shell word: unquoted, "double quoted" (may span lines), 'single quoted',
 *     backslash escapes and line continuations, `$VAR` / `${VAR}` references (expanded
 *     when a client's settings are resolved, in evaluation order, like the shell does);
 *   - `INCLUDE=name` (case-insensitive key, as ini2sh matches it);
 *   - `#` comments and blank lines.
 *
 * Anything else is shell code ltsp-ts does not run: it is reported as a warning with
 * file:line, never silently dropped. Broken syntax (unterminated quote, bad header) is an
 * error.
 */

/** Part of an assigned value: literal text or a variable reference expanded later. */
export type ValuePart = { text: string } | { ref: string };

export interface Assignment {
  kind: 'set';
  key: string;
  value: ValuePart[];
  line: number;
}

export interface Include {
  kind: 'include';
  /** Target section id (normalized like ini2sh's function names). */
  target: string;
  line: number;
}

export type Statement = Assignment | Include;

export interface Section {
  /** Function id as ini2sh builds it: lower-cased, non-alphanumerics turned into `_`. */
  id: string;
  /** Header patterns (lower-cased header text) that call this section, in file order. */
  patterns: string[];
  /** Line of the header whose body is used (1-based; 0 for "unnamed"). */
  line: number;
  statements: Statement[];
}

export interface Diagnostic {
  line: number;
  message: string;
}

export interface LtspConf {
  /** Sections by id; when a header repeats, the last body wins (shell redefines the function). */
  sections: Map<string, Section>;
  /** Header patterns in file order, each with the id it calls (the `case` list of section_call). */
  headers: Array<{ pattern: string; id: string; line: number }>;
  warnings: Diagnostic[];
  errors: Diagnostic[];
}

/** Characters ini2sh keeps in a header, after lower-casing (LTSP's documented set). */
const HEADER_CHARS = /^[-*./:?@_|0-9a-z]+$/;

/** ini2sh's function id: lower-case, every non-alphanumeric becomes `_`. */
export function sectionId(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '_');
}

/** True when a header pattern uses shell glob syntax (`*`, `?`, `|` alternatives). */
export function isGlobPattern(pattern: string): boolean {
  return /[*?|]/.test(pattern);
}

/** Shell `case` pattern match: `|` alternatives, `*` any string, `?` one character. */
export function matchPattern(pattern: string, value: string): boolean {
  return pattern.split('|').some((alt) => {
    const re = alt.replace(/[.+^${}()[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    return new RegExp(`^${re}$`).test(value);
  });
}

const SNIPPET_MAX = 60;
function snippet(s: string): string {
  const t = s.trim();
  return t.length > SNIPPET_MAX ? `${t.slice(0, SNIPPET_MAX)}...` : t;
}

/** Characters that end an unquoted shell word or make the line a command we do not run. */
const SHELL_META = new Set([';', '&', '|', '<', '>', '(', ')', '`']);

class Scanner {
  pos = 0;
  line = 1;
  constructor(readonly text: string) {}

  get eof(): boolean {
    return this.pos >= this.text.length;
  }
  peek(off = 0): string {
    return this.text[this.pos + off] ?? '';
  }
  next(): string {
    const c = this.text[this.pos++] ?? '';
    if (c === '\n') this.line++;
    return c;
  }
  skipBlanks(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
  }
  /** Rest of the physical line (without the newline), consumed with the newline. */
  restOfLine(): string {
    const end = this.text.indexOf('\n', this.pos);
    const stop = end < 0 ? this.text.length : end;
    const s = this.text.slice(this.pos, stop);
    this.pos = stop;
    if (end >= 0) this.next();
    return s;
  }
}

interface WordResult {
  parts: ValuePart[];
  /** Problems that make the value unusable (unterminated quote): an error. */
  error?: string;
  /** Constructs kept literally (command substitution, ${VAR:-x} ...): a warning. */
  unsupported?: string;
  /** An unquoted shell operator (`;`, `|`, ...) ended the word: the line is shell code. */
  operator?: boolean;
}

function pushText(parts: ValuePart[], text: string): void {
  const last = parts[parts.length - 1];
  if (last && 'text' in last) last.text += text;
  else parts.push({ text });
}

/**
 * Read `$NAME` / `${NAME}` at the scanner (positioned on `$`). Anything else after `$`
 * is kept literally and reported.
 */
function readDollar(sc: Scanner, parts: ValuePart[], res: WordResult): void {
  sc.next(); // $
  const rest = sc.text.slice(sc.pos);
  const plain = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
  if (plain) {
    sc.pos += plain[0].length;
    parts.push({ ref: plain[0] });
    return;
  }
  const braced = /^\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(rest);
  if (braced) {
    sc.pos += braced[0].length;
    parts.push({ ref: braced[1]! });
    return;
  }
  const open = rest[0];
  if (open === '(' || open === '{') {
    // $(cmd) / ${VAR:-x}: keep the whole construct literally, up to its closing bracket.
    const close = open === '(' ? ')' : '}';
    let depth = 0;
    let end = -1;
    for (let i = 0; i < rest.length && rest[i] !== '\n'; i++) {
      if (rest[i] === open) depth++;
      else if (rest[i] === close && --depth === 0) {
        end = i;
        break;
      }
    }
    if (end > 0) {
      const construct = `$${rest.slice(0, end + 1)}`;
      res.unsupported ??= `'${snippet(construct)}' (${open === '(' ? 'command substitution' : 'parameter expansion'}) is not evaluated; kept literally`;
      pushText(parts, construct);
      sc.pos += end + 1;
      return;
    }
  }
  pushText(parts, '$');
}

/**
 * Read one shell word (the value of an assignment). Stops at unquoted blank, newline or
 * end of text; quoted parts may span lines.
 */
function readWord(sc: Scanner): WordResult {
  const parts: ValuePart[] = [];
  const res: WordResult = { parts };
  for (;;) {
    const c = sc.peek();
    if (c === '' || c === ' ' || c === '\t' || c === '\n') break;
    if (c === '\r' && sc.peek(1) === '\n') {
      sc.pos++;
      break;
    }
    if (c === "'") {
      const startLine = sc.line;
      sc.next();
      const end = sc.text.indexOf("'", sc.pos);
      if (end < 0) {
        res.error = `unterminated single quote (opened on line ${startLine})`;
        while (!sc.eof) sc.next();
        return res;
      }
      const s = sc.text.slice(sc.pos, end);
      while (sc.pos <= end) sc.next();
      pushText(parts, s);
      continue;
    }
    if (c === '"') {
      const startLine = sc.line;
      sc.next();
      for (;;) {
        if (sc.eof) {
          res.error = `unterminated double quote (opened on line ${startLine})`;
          return res;
        }
        const d = sc.peek();
        if (d === '"') {
          sc.next();
          break;
        }
        if (d === '\\') {
          const e = sc.peek(1);
          if (e === '\n') {
            sc.next();
            sc.next(); // line continuation inside quotes
          } else if (e === '$' || e === '`' || e === '"' || e === '\\') {
            sc.next();
            pushText(parts, sc.next());
          } else {
            pushText(parts, sc.next()); // backslash kept, as the shell does in "..."
          }
          continue;
        }
        if (d === '$') {
          readDollar(sc, parts, res);
          continue;
        }
        if (d === '`') res.unsupported ??= 'backquote command substitution is not evaluated; kept literally';
        pushText(parts, sc.next());
      }
      continue;
    }
    if (c === '\\') {
      sc.next();
      const e = sc.next();
      if (e !== '\n') pushText(parts, e); // `\<newline>` continues the word on the next line
      continue;
    }
    if (c === '$') {
      readDollar(sc, parts, res);
      continue;
    }
    if (SHELL_META.has(c)) {
      res.operator = true;
      return res;
    }
    pushText(parts, sc.next());
  }
  return res;
}

/** Skip a line of shell we do not understand, honouring quotes so multi-line strings stay together. */
function skipShellLine(sc: Scanner): string {
  const start = sc.pos;
  while (!sc.eof && sc.peek() !== '\n') {
    const c = sc.peek();
    if (c === '#' && (sc.pos === start || /\s/.test(sc.text[sc.pos - 1]!))) {
      sc.restOfLine();
      return sc.text.slice(start, sc.pos);
    }
    if (c === "'" || c === '"') {
      const end = sc.text.indexOf(c, sc.pos + 1);
      if (end < 0) break;
      while (sc.pos <= end) sc.next();
      continue;
    }
    if (c === '\\') {
      sc.next();
      sc.next();
      continue;
    }
    sc.next();
  }
  const s = sc.text.slice(start, sc.pos);
  if (!sc.eof) sc.next();
  return s;
}

/** After a value: only blanks and a comment may follow on the same line. */
function restIsComment(sc: Scanner): string | undefined {
  sc.skipBlanks();
  const rest = sc.restOfLine().replace(/\r$/, '');
  if (rest === '' || rest.startsWith('#')) return undefined;
  return rest;
}

/** Parse ltsp.conf text. Line numbers are 1-based. */
export function parseLtspConf(text: string): LtspConf {
  const sc = new Scanner(text.startsWith('\ufeff') ? text.slice(1) : text);
  const unnamed: Section = { id: 'unnamed', patterns: ['unnamed'], line: 0, statements: [] };
  const sections = new Map<string, Section>([['unnamed', unnamed]]);
  const headers: LtspConf['headers'] = [];
  const warnings: Diagnostic[] = [];
  const errors: Diagnostic[] = [];
  const firstHeaderLine = new Map<string, number>();
  let current = unnamed;

  while (!sc.eof) {
    sc.skipBlanks();
    const line = sc.line;
    const c = sc.peek();
    if (c === '\n' || (c === '\r' && sc.peek(1) === '\n') || c === '') {
      sc.restOfLine();
      continue;
    }
    if (c === '#') {
      sc.restOfLine();
      continue;
    }
    if (c === '[') {
      const raw = sc.restOfLine().replace(/\r$/, '');
      const m = /^\[([^\]]*)\]\s*(#.*)?$/.exec(raw);
      if (!m) {
        errors.push({
          line,
          message: raw.includes(']')
            ? `bad section header '${snippet(raw)}': only a comment may follow ']'`
            : `bad section header '${snippet(raw)}': missing ']'`,
        });
        current = { id: `\0broken${line}`, patterns: [], line, statements: [] }; // swallow its body
        continue;
      }
      const name = m[1]!.trim().toLowerCase();
      if (name === '' || !HEADER_CHARS.test(name)) {
        errors.push({
          line,
          message:
            name === ''
              ? 'empty section header []'
              : `bad section header [${m[1]}]: only letters, digits and - * . / : ? @ _ | are allowed`,
        });
        current = { id: `\0broken${line}`, patterns: [], line, statements: [] };
        continue;
      }
      const id = sectionId(name);
      const prev = firstHeaderLine.get(id);
      if (prev !== undefined || id === 'unnamed') {
        warnings.push({
          line,
          message:
            id === 'unnamed'
              ? `section [${name}] is the same as the text before the first section; LTSP replaces that text with it`
              : `section [${name}] repeats (or maps to the same name as) the one on line ${prev}; as in LTSP only the last one's settings are used`,
        });
      } else {
        firstHeaderLine.set(id, line);
      }
      current = { id, patterns: [], line, statements: [] };
      const existing = sections.get(id);
      current.patterns = existing ? existing.patterns : [];
      if (!current.patterns.includes(name)) current.patterns.push(name);
      sections.set(id, current);
      headers.push({ pattern: name, id, line });
      continue;
    }
    const assign = /^([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*/.exec(sc.text.slice(sc.pos, sc.pos + 300));
    if (assign) {
      const startPos = sc.pos;
      sc.pos += assign[0].length;
      const key = assign[1]!;
      const word = readWord(sc);
      if (word.error) {
        errors.push({ line, message: `${key}: ${word.error}` });
        break; // the rest of the file is inside the quote
      }
      if (word.unsupported) warnings.push({ line, message: `${key}: ${word.unsupported}` });
      const trailing = word.operator ? skipShellLine(sc) : restIsComment(sc);
      if (word.operator || trailing !== undefined) {
        warnings.push({
          line,
          message: `not understood, ignored: '${snippet(sc.text.slice(startPos, sc.pos))}' (ltsp-ts reads KEY=value lines; quote values that contain spaces)`,
        });
        continue;
      }
      if (key.toUpperCase() === 'INCLUDE') {
        const target = word.parts.map((p) => ('text' in p ? p.text : `$${p.ref}`)).join('');
        if (word.parts.some((p) => 'ref' in p) || target === '') {
          warnings.push({ line, message: `INCLUDE needs a literal section name, got '${snippet(target)}'; ignored` });
        } else {
          current.statements.push({ kind: 'include', target: sectionId(target), line });
        }
        continue;
      }
      current.statements.push({ kind: 'set', key, value: word.parts, line });
      continue;
    }
    const code = skipShellLine(sc);
    warnings.push({ line, message: `not understood, ignored: '${snippet(code)}' (ltsp-ts does not run shell code in ltsp.conf)` });
  }

  // Second pass: references to things that do not exist.
  const assigned = new Set<string>();
  for (const s of sections.values()) for (const st of s.statements) if (st.kind === 'set') assigned.add(st.key);
  for (const s of sections.values()) {
    for (const st of s.statements) {
      if (st.kind === 'include' && !sections.has(st.target)) {
        warnings.push({ line: st.line, message: `INCLUDE=${st.target}: no such section; ignored` });
      }
      if (st.kind === 'set') {
        for (const p of st.value) {
          if ('ref' in p && !assigned.has(p.ref)) {
            warnings.push({ line: st.line, message: `${st.key}: $${p.ref} is not set anywhere in this file; it expands to an empty string` });
          }
        }
      }
    }
  }
  warnings.sort((a, b) => a.line - b.line);
  return { sections, headers, warnings, errors };
}
