//! The files of a new app: the template's own (embedded in the binary at build time), the SDK
//! under `vendor/dream-api-sdk`, and `.env.local`; and writing them so that nothing is
//! half-written or overwritten.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use rust_embed::Embed;

use super::Template;

#[derive(Embed)]
#[folder = "../templates/saas"]
#[exclude = "node_modules/*"]
#[exclude = "dist/*"]
#[exclude = ".env.local"]
struct Saas;

#[derive(Embed)]
#[folder = "../templates/shop"]
#[exclude = "node_modules/*"]
#[exclude = "dist/*"]
#[exclude = ".env.local"]
#[exclude = "samples/*"]
struct Shop;

/// The SDK as TypeScript source: the app's bundler and type-checker read it as they read the
/// app's own code, so it needs no build of its own.
#[derive(Embed)]
#[folder = "../clients/typescript"]
#[include = "src/*"]
#[include = "README.md"]
#[include = "package.json"]
struct Sdk;

/// The shop's sample pictures, uploaded as its products' images.
pub const SAMPLES: &[(&str, &[u8])] = &[
    (
        "mug.png",
        include_bytes!("../../../templates/shop/samples/mug.png"),
    ),
    (
        "tshirt.png",
        include_bytes!("../../../templates/shop/samples/tshirt.png"),
    ),
    (
        "sticker.png",
        include_bytes!("../../../templates/shop/samples/sticker.png"),
    ),
];

/// Where the SDK goes in the app, and what the app's `package.json` depends on.
const VENDOR: &str = "vendor/dream-api-sdk";
/// The template's dependency on the SDK in this repository.
const REPOSITORY_SDK: &str = "../../clients/typescript";

/// Every file of the app, by its path inside the app's folder.
pub fn app(
    template: Template,
    package_name: &str,
    api_url: &str,
    publishable_key: &str,
) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let mut files = BTreeMap::new();
    let own = match template {
        Template::Saas => embedded::<Saas>(),
        Template::Shop => embedded::<Shop>(),
    };
    let template_name = format!("dream-{}", template.name());
    for (path, data) in own {
        let data = match path.as_str() {
            "package.json" | "package-lock.json" => {
                let text = std::str::from_utf8(&data).context("package.json is UTF-8")?;
                relink(text, &template_name, package_name)?.into_bytes()
            }
            _ => data.into_owned(),
        };
        files.insert(path, data);
    }
    for (path, data) in embedded::<Sdk>() {
        let data = if path == "package.json" {
            vendor_manifest(std::str::from_utf8(&data)?)?.into_bytes()
        } else {
            data.into_owned()
        };
        files.insert(format!("{VENDOR}/{path}"), data);
    }
    files.insert(
        ".env.local".into(),
        format!(
            "# Written by `dream init`: where the API is, and the project's publishable key (the\n\
             # browser's key; the secret key never goes in an app's files).\n\
             VITE_DREAM_API_URL={api_url}\nVITE_DREAM_PUBLISHABLE_KEY={publishable_key}\n"
        )
        .into_bytes(),
    );
    Ok(files)
}

/// Every file of an embedded folder, by its path inside it.
fn embedded<E: Embed>() -> Vec<(String, Cow<'static, [u8]>)> {
    E::iter()
        .filter_map(|path| E::get(&path).map(|file| (path.into_owned(), file.data)))
        .collect()
}

/// The template's `package.json` or `package-lock.json` for the app: its name, and the SDK
/// from `vendor/` instead of this repository. Text is replaced, not re-serialized, so the
/// file keeps its order and formatting (and the lockfile its integrity lines).
fn relink(text: &str, template_name: &str, package_name: &str) -> anyhow::Result<String> {
    let relinked = text
        .replace(
            &format!("\"file:{REPOSITORY_SDK}\""),
            &format!("\"file:{VENDOR}\""),
        )
        .replace(&format!("\"{REPOSITORY_SDK}\""), &format!("\"{VENDOR}\""))
        .replace(
            &format!("\"name\": \"{template_name}\""),
            &format!("\"name\": \"{package_name}\""),
        );
    let parsed: serde_json::Value =
        serde_json::from_str(&relinked).context("the template's package files are JSON")?;
    if relinked.contains(REPOSITORY_SDK) || parsed["name"] != package_name {
        bail!("the template's package files do not have the expected shape");
    }
    Ok(relinked)
}

/// The SDK's `package.json` as a source package: its entry points are the TypeScript files.
fn vendor_manifest(sdk: &str) -> anyhow::Result<String> {
    let sdk: serde_json::Value = serde_json::from_str(sdk)?;
    let field = |name: &str| sdk[name].as_str().unwrap_or_default().to_string();
    let manifest = serde_json::json!({
        "name": field("name"),
        "version": field("version"),
        "description": field("description"),
        "license": field("license"),
        "engines": sdk["engines"],
        "type": "module",
        "sideEffects": false,
        "types": "./src/index.ts",
        "exports": {
            ".": "./src/index.ts",
            "./client": "./src/generated/api.ts",
        },
    });
    Ok(serde_json::to_string_pretty(&manifest)? + "\n")
}

/// The folder an app is written to: new (or empty), or one `dream init` made before.
pub struct Target {
    dir: PathBuf,
    fresh: bool,
}

/// What writing did.
pub struct Written {
    pub added: usize,
    pub kept: usize,
    /// Said when an existing `.env.local` names another key than this project's.
    pub env_note: Option<String>,
}

impl Target {
    /// Refuses a folder that holds something other than an app on the SDK.
    pub fn check(dir: &Path) -> anyhow::Result<Target> {
        let fresh = match std::fs::read_dir(dir) {
            Ok(mut entries) => entries.next().is_none(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
        };
        if !fresh {
            let manifest = std::fs::read_to_string(dir.join("package.json")).unwrap_or_default();
            let ours = serde_json::from_str::<serde_json::Value>(&manifest)
                .is_ok_and(|m| m["dependencies"]["@dream-api/sdk"].is_string());
            if !ours {
                bail!(
                    "{} is not empty and holds no app on @dream-api/sdk: choose a new folder",
                    dir.display()
                );
            }
        }
        Ok(Target {
            dir: dir.to_path_buf(),
            fresh,
        })
    }

    /// The app's npm package name, from its folder's name.
    pub fn package_name(&self) -> String {
        let base = self
            .dir
            .canonicalize()
            .unwrap_or_else(|_| self.dir.clone())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        package_name(&base)
    }

    /// Writes `files`. A new folder is assembled beside its place and renamed into it, so it
    /// appears whole or not at all; in an existing app only absent files are added, each
    /// written to a temporary name and renamed.
    pub fn write(&self, files: &BTreeMap<String, Vec<u8>>) -> anyhow::Result<Written> {
        if self.fresh {
            let parent = match self.dir.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            std::fs::create_dir_all(&parent)
                .with_context(|| format!("cannot make {}", parent.display()))?;
            let staging = tempfile_dir(&parent)?;
            for (path, data) in files {
                put(&staging.join(path), data)?;
            }
            // rename(2) replaces an empty directory.
            std::fs::rename(&staging, &self.dir)
                .inspect_err(|_| {
                    let _ = std::fs::remove_dir_all(&staging);
                })
                .with_context(|| format!("cannot make {}", self.dir.display()))?;
            return Ok(Written {
                added: files.len(),
                kept: 0,
                env_note: None,
            });
        }
        let mut written = Written {
            added: 0,
            kept: 0,
            env_note: None,
        };
        for (path, data) in files {
            let place = self.dir.join(path);
            if place.exists() {
                written.kept += 1;
                if path == ".env.local" {
                    written.env_note = env_note(&place, data);
                }
                continue;
            }
            let temporary = place.with_file_name(format!(
                ".{}.dream-init",
                place.file_name().unwrap_or_default().to_string_lossy()
            ));
            put(&temporary, data)?;
            std::fs::rename(&temporary, &place)
                .with_context(|| format!("cannot write {}", place.display()))?;
            written.added += 1;
        }
        Ok(written)
    }
}

/// A new, uniquely named folder in `parent`.
fn tempfile_dir(parent: &Path) -> anyhow::Result<PathBuf> {
    for attempt in 0..100 {
        let dir = parent.join(format!(".dream-init-{}-{attempt}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("cannot write in {}", parent.display()));
            }
        }
    }
    bail!("cannot make a temporary folder in {}", parent.display())
}

fn put(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
    }
    std::fs::write(path, data).with_context(|| format!("cannot write {}", path.display()))
}

/// What to say when the kept `.env.local` names another publishable key than `wanted`'s.
fn env_note(place: &Path, wanted: &[u8]) -> Option<String> {
    let key = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("VITE_DREAM_PUBLISHABLE_KEY="))
            .map(|v| v.trim().to_string())
    };
    let have = key(&std::fs::read_to_string(place).ok()?);
    let want = key(std::str::from_utf8(wanted).ok()?);
    (have != want).then(|| {
        format!(
            "kept .env.local, whose publishable key is not this project's ({}): edit it to use this project",
            want.unwrap_or_default()
        )
    })
}

/// An npm package name from a folder name: lowercase letters, digits, `-`, `.` and `_`,
/// not starting with `.` or `_`.
fn package_name(folder: &str) -> String {
    let name: String = folder
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '.' | '_' => c,
            _ => '-',
        })
        .collect();
    let name = name.trim_start_matches(['.', '_', '-']).to_string();
    if name.is_empty() {
        "dream-app".into()
    } else {
        name.chars().take(214).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_has_every_file_of_its_template_and_the_sdk_from_vendor() {
        for (template, folder) in [(Template::Saas, "saas"), (Template::Shop, "shop")] {
            let files = app(template, "my-app", "http://localhost:8787", "pk_test_abc").unwrap();
            // Every file the template has in this repository, but what is built or installed.
            let root = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../templates")
                .join(folder);
            let mut expected = Vec::new();
            let mut todo = vec![root.clone()];
            while let Some(dir) = todo.pop() {
                for entry in std::fs::read_dir(&dir).unwrap() {
                    let path = entry.unwrap().path();
                    let relative = path
                        .strip_prefix(&root)
                        .unwrap()
                        .to_string_lossy()
                        .to_string();
                    if ["node_modules", "dist", ".env.local", "samples"]
                        .contains(&relative.as_str())
                    {
                        continue;
                    }
                    if path.is_dir() {
                        todo.push(path);
                    } else {
                        expected.push(relative);
                    }
                }
            }
            for path in &expected {
                assert!(files.contains_key(path), "{folder}: {path} missing");
            }
            for path in [
                "vendor/dream-api-sdk/src/index.ts",
                "vendor/dream-api-sdk/src/generated/api.ts",
            ] {
                assert!(files.contains_key(path), "{folder}: {path} missing");
            }
            let manifest: serde_json::Value =
                serde_json::from_slice(&files["package.json"]).unwrap();
            assert_eq!(manifest["name"], "my-app");
            assert_eq!(
                manifest["dependencies"]["@dream-api/sdk"],
                "file:vendor/dream-api-sdk"
            );
            let lock: serde_json::Value =
                serde_json::from_slice(&files["package-lock.json"]).unwrap();
            assert_eq!(
                lock["packages"][""]["dependencies"]["@dream-api/sdk"],
                "file:vendor/dream-api-sdk"
            );
            assert_eq!(
                lock["packages"]["node_modules/@dream-api/sdk"]["resolved"],
                "vendor/dream-api-sdk"
            );
            assert!(lock["packages"]["vendor/dream-api-sdk"].is_object());
            let env = String::from_utf8(files[".env.local"].clone()).unwrap();
            assert!(env.contains("VITE_DREAM_PUBLISHABLE_KEY=pk_test_abc\n"));
            assert!(!env.contains("sk_"));
        }
    }

    #[test]
    fn package_names_are_what_npm_accepts() {
        assert_eq!(package_name("my-app"), "my-app");
        assert_eq!(package_name("My App!"), "my-app-");
        assert_eq!(package_name(".hidden"), "hidden");
        assert_eq!(package_name("___"), "dream-app");
    }
}
