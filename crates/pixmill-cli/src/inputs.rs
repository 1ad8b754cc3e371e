//! Turning the command line's inputs into items with predictable result names.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::batch::{Item, Subject, file_name};

/// A file found among the inputs, and where its result goes below the output directory.
struct Found {
    path: PathBuf,
    /// The subdirectory of a directory input it was found in (mirrored in the output).
    below: PathBuf,
}

/// One item per file of `inputs` (files, directories, glob patterns), in the order given,
/// directories sorted by name; a file named twice is taken once. Results are named
/// `<stem>-<suffix>` in `out_dir`; when two inputs would share a name (`a.png`, `a.jpg`),
/// those take their whole file name instead (`a.png-upscale`).
pub fn images(
    inputs: &[String],
    recursive: bool,
    out_dir: &Path,
    suffix: &str,
) -> anyhow::Result<Vec<Item>> {
    let mut found = Vec::new();
    for input in inputs {
        let path = Path::new(input);
        if path.is_dir() {
            walk(path, Path::new(""), recursive, &mut found)?;
        } else if path.is_file() {
            found.push(Found {
                path: path.to_path_buf(),
                below: PathBuf::new(),
            });
        } else if input.contains(['*', '?', '[']) {
            let mut matched = false;
            // Hidden files match only a pattern that names the dot, as in a shell.
            let options = glob::MatchOptions {
                require_literal_leading_dot: true,
                ..glob::MatchOptions::new()
            };
            let entries = glob::glob_with(input, options)
                .with_context(|| format!("`{input}` is not a glob pattern"))?;
            for entry in entries {
                let path = entry.with_context(|| format!("reading a match of `{input}`"))?;
                matched = true;
                if path.is_dir() {
                    walk(&path, Path::new(""), recursive, &mut found)?;
                } else {
                    found.push(Found {
                        path,
                        below: PathBuf::new(),
                    });
                }
            }
            if !matched {
                bail!("`{input}` matches no file");
            }
        } else {
            bail!("`{input}`: no such file or directory");
        }
    }
    let mut seen = HashSet::new();
    found
        .retain(|f| seen.insert(std::fs::canonicalize(&f.path).unwrap_or_else(|_| f.path.clone())));
    let stem = |f: &Found| {
        f.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut uses: HashMap<PathBuf, usize> = HashMap::new();
    for f in &found {
        *uses.entry(f.below.join(stem(f))).or_default() += 1;
    }
    Ok(found
        .iter()
        .map(|f| {
            let name = if uses.get(&f.below.join(stem(f))).copied().unwrap_or(0) > 1 {
                file_name(&f.path)
            } else {
                stem(f)
            };
            Item {
                label: f.path.display().to_string(),
                subject: Subject::Image(f.path.clone()),
                out_base: out_dir.join(&f.below).join(format!("{name}-{suffix}")),
            }
        })
        .collect())
}

/// The files of `dir`, sorted, hidden ones left out; with `recursive`, those of its
/// subdirectories too.
fn walk(dir: &Path, below: &Path, recursive: bool, found: &mut Vec<Found>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the directory {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| !file_name(path).starts_with('.'))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if recursive {
                let below = below.join(file_name(&path));
                walk(&path, &below, recursive, found)?;
            }
        } else if path.is_file() {
            found.push(Found {
                path,
                below: below.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// One item per prompt, named after its words (`a-fox-in-snow-generate`); prompts that
/// would share a name are numbered from the second on.
pub fn prompts(prompts: &[String], out_dir: &Path, suffix: &str) -> Vec<Item> {
    let mut taken: HashMap<String, usize> = HashMap::new();
    prompts
        .iter()
        .map(|prompt| {
            let slug = slug(prompt);
            let count = taken.entry(slug.clone()).or_default();
            *count += 1;
            let name = if *count > 1 {
                format!("{slug}-{count}-{suffix}")
            } else {
                format!("{slug}-{suffix}")
            };
            Item {
                label: prompt.clone(),
                subject: Subject::Prompt(prompt.clone()),
                out_base: out_dir.join(name),
            }
        })
        .collect()
}

/// A single item for a command that makes one call of all its arguments.
pub fn whole(label: impl Into<String>, out_dir: &Path, name: &str) -> Vec<Item> {
    vec![Item {
        label: label.into(),
        subject: Subject::Whole,
        out_base: out_dir.join(name),
    }]
}

/// Lowercase letters and digits of `text`, other runs turned into one `-`, at most 48
/// characters.
fn slug(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.chars().count() >= 48 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() {
        "prompt".into()
    } else {
        slug
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .map(|i| i.out_base.display().to_string())
            .collect()
    }

    #[test]
    fn directories_globs_and_files_give_predictable_names() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("in/sub")).unwrap();
        for name in [
            "in/b.png",
            "in/a.png",
            "in/a.jpg",
            "in/.hidden.png",
            "in/sub/c.png",
        ] {
            std::fs::write(root.join(name), b"x").unwrap();
        }
        let input = root.join("in").display().to_string();
        let out = Path::new("out");
        let flat = images(std::slice::from_ref(&input), false, out, "up").unwrap();
        assert_eq!(names(&flat), ["out/a.jpg-up", "out/a.png-up", "out/b-up"]);
        let deep = images(std::slice::from_ref(&input), true, out, "up").unwrap();
        assert_eq!(deep.len(), 4);
        assert_eq!(names(&deep)[3], "out/sub/c-up");
        let pattern = format!("{}/in/*.png", root.display());
        let globbed = images(
            &[pattern, root.join("in/b.png").display().to_string()],
            false,
            out,
            "up",
        )
        .unwrap();
        assert_eq!(
            names(&globbed),
            ["out/a-up", "out/b-up"],
            "b.png is taken once"
        );
        assert!(images(&["nowhere/*.png".into()], false, out, "up").is_err());
        assert!(images(&["missing.png".into()], false, out, "up").is_err());
    }

    #[test]
    fn prompts_are_named_by_their_words() {
        let items = prompts(
            &[
                "A fox, in snow!".into(),
                "a fox in snow".into(),
                "!!!".into(),
            ],
            Path::new("o"),
            "gen",
        );
        assert_eq!(
            names(&items),
            [
                "o/a-fox-in-snow-gen",
                "o/a-fox-in-snow-2-gen",
                "o/prompt-gen"
            ]
        );
    }
}
