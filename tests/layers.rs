//! The layer rule of docs/architecture.md: every top-level module of `src/` imports only modules
//! of its own layer or below. The layers are listed bottom-up; a `crate::<module>` path outside
//! test code that names a module of a higher layer fails the test with the file and line.
//!
//! Test code (`#[cfg(test)]` modules and `tests.rs` files) is exempt: a section's tests may
//! decode it through the root config, as users write it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Bottom-up. Modules on one line are one layer and must not import each other either, unless
/// listed as allowed peers below.
const LAYERS: &[&[&str]] = &[
    &["model"],
    &["logging"],
    &["config"],
    &["http_client"],
    &["collector"],
    &["sources"],
    &["store"],
    &["promql", "anomaly"],
    &["template"],
    &["rules"],
    &["notify", "remote_write"],
    &["app"],
    &["web"],
    &["tools"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file under `src/` belongs to (`src/rules/alert/mod.rs` → `rules`).
fn top_module(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// `(line number, module)` for every `crate::<module>` outside test code. Test code is the
/// rest of a file from a `#[cfg(test)]` line at column 0 that opens an inline module.
fn imports(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        if line == "#[cfg(test)]" {
            if let Some((_, next)) = lines.peek() {
                if next.starts_with("mod ") && next.ends_with('{') {
                    break;
                }
            }
        }
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `crate::registry!` is a macro exported at the crate root, not a module.
            let is_macro = after[name.len()..].starts_with('!');
            if !name.is_empty() && !is_macro {
                out.push((i + 1, name));
            }
            rest = after;
        }
    }
    out
}

#[test]
fn modules_import_only_their_layer_or_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    let mut edges: BTreeMap<(String, String), usize> = BTreeMap::new();
    for file in &files {
        if file.file_name().is_some_and(|n| n == "tests.rs")
            || file.components().any(|c| c.as_os_str() == "tests")
        {
            continue;
        }
        let top = top_module(&src, file);
        if top == "main" {
            continue;
        }
        let Some(own) = layer_of(&top) else {
            problems.push(format!("{}: module {top} is in no layer", file.display()));
            continue;
        };
        let text = fs::read_to_string(file).unwrap();
        for (line, used) in imports(&text) {
            if used == top {
                continue;
            }
            *edges.entry((top.clone(), used.clone())).or_default() += 1;
            match layer_of(&used) {
                None => problems.push(format!("{}:{line}: unknown module {used}", file.display())),
                Some(l) if l > own || (l == own && used != top) => problems.push(format!(
                    "{}:{line}: {top} (layer {own}) imports {used} (layer {l})",
                    file.display()
                )),
                Some(_) => {}
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layer violations:\n{}",
        problems.join("\n")
    );
    // The edges exist at all (the scan reads something): the rules layer uses the store.
    assert!(edges.contains_key(&("rules".to_string(), "store".to_string())));
}

#[test]
fn the_scan_sees_imports_and_skips_test_code() {
    let text = "use crate::store::Store;\nfn f() { crate::model::time::now_ms(); }\n\
                crate::registry!(pub const ALL: &[K] = KIND; a);\n\
                // crate::web in a comment\n#[cfg(test)]\nmod tests {\n    use crate::app::App;\n}\n";
    let got: Vec<String> = imports(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(got, ["store", "model"]);
}
