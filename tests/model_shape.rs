//! The model stays readable: no function in `src/model/` is longer than 80 lines (issue 9).
//! The function bodies are found by a small lexer that skips comments, strings and character
//! literals, so braces inside them do not count.

use std::fs;
use std::path::{Path, PathBuf};

const LIMIT: usize = 80;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/model is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source with comments, strings and character literals blanked out (newlines kept), so
/// that only code braces remain.
fn code_only(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let keep_newlines = |s: &[char]| {
        s.iter()
            .filter(|c| **c == '\n')
            .map(|_| '\n')
            .collect::<String>()
    };
    while i < b.len() {
        let rest = &b[i..];
        let end = if rest.starts_with(&['/', '/']) {
            rest.iter()
                .position(|c| *c == '\n')
                .map_or(b.len(), |p| i + p)
        } else if rest.starts_with(&['/', '*']) {
            (i + 2..b.len() - 1)
                .find(|&j| b[j] == '*' && b[j + 1] == '/')
                .map_or(b.len(), |j| j + 2)
        } else if rest[0] == 'r'
            && rest.get(1).is_some_and(|c| *c == '#' || *c == '"')
            && (i == 0 || !b[i - 1].is_alphanumeric())
        {
            let hashes = rest[1..].iter().take_while(|c| **c == '#').count();
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat('#').take(hashes))
                .collect();
            let start = i + 2 + hashes;
            (start..b.len())
                .find(|&j| b[j..].starts_with(&close))
                .map_or(b.len(), |j| j + close.len())
        } else if rest[0] == '"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != '"' {
                j += if b[j] == '\\' { 2 } else { 1 };
            }
            j + 1
        } else if rest[0] == '\'' && rest.get(1) == Some(&'\\') {
            (i + 2..b.len())
                .find(|&j| b[j] == '\'')
                .map_or(b.len(), |j| j + 1)
        } else if rest[0] == '\'' && rest.get(2) == Some(&'\'') {
            i + 3
        } else {
            out.push(rest[0]);
            i += 1;
            continue;
        };
        let end = end.min(b.len());
        out.push_str(&keep_newlines(&b[i..end]));
        i = end;
    }
    out
}

/// Each function's name, first line and length in lines (signature to closing brace).
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let sig = [
            "fn ",
            "pub fn ",
            "pub(crate) fn ",
            "pub(super) fn ",
            "const fn ",
            "pub const fn ",
        ]
        .iter()
        .find_map(|p| t.strip_prefix(p));
        let Some(sig) = sig else { continue };
        let name: String = sig
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // From the signature on: the body opens at the first `{` (a `;` first: no body).
        let mut depth = 0i32;
        let mut opened = false;
        'scan: for (m, l) in lines.iter().enumerate().skip(n) {
            for c in l.chars() {
                match c {
                    ';' if !opened => break 'scan,
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => {
                        depth -= 1;
                        if opened && depth == 0 {
                            found.push((name.clone(), n + 1, m - n + 1));
                            break 'scan;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    found
}

#[test]
fn no_function_in_the_model_is_longer_than_80_lines() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/model"),
        &mut files,
    );
    assert!(
        files.len() >= 8,
        "src/model/ should hold the model's files, found {files:?}"
    );
    let mut long = Vec::new();
    let mut counted = 0;
    for f in &files {
        let code = code_only(&fs::read_to_string(f).expect("readable"));
        for (name, line, len) in functions(&code) {
            counted += 1;
            if len > LIMIT {
                long.push(format!("{}:{line} fn {name}: {len} lines", f.display()));
            }
        }
    }
    assert!(
        counted > 40,
        "only {counted} functions found: the scan is broken"
    );
    assert!(
        long.is_empty(),
        "functions over {LIMIT} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_scan_sees_braces_only_in_code() {
    let src = "fn a() {\n    let s = \"}}}\";\n    let c = '}';\n    // }\n    /* } */\n    let r = r#\"}\"#;\n}\nfn b<'x>(v: &'x str) -> &'x str {\n    v\n}\n";
    let f = functions(&code_only(src));
    assert_eq!(f, vec![("a".to_string(), 1, 7), ("b".to_string(), 8, 3)]);
    let long = format!("fn c() {{\n{}}}\n", "    x();\n".repeat(90));
    assert_eq!(functions(&code_only(&long))[0].2, 92);
}
