//! Embeds the dashboard's built files (`web/dist`, made by `web/build.mjs`) in the binary, each
//! also compressed with brotli and gzip here, once per change, so that serving one costs no
//! compression at run time. Writes `$OUT_DIR/dashboard_assets.rs`, included by
//! `src/dashboard/assets.rs`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

const DIST: &str = "web/dist";

fn main() {
    println!("cargo::rerun-if-changed={DIST}");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dist = Path::new(DIST);
    let mut files = Vec::new();
    collect(dist, &mut files);
    files.sort();

    let mut code = String::from("&[\n");
    for path in &files {
        let route = format!(
            "/{}",
            path.strip_prefix(dist)
                .expect("under dist")
                .to_string_lossy()
                .replace('\\', "/")
        );
        let bytes =
            std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let digest = hex(&Sha256::digest(&bytes));
        let content_type = content_type(path);
        let (brotli, gzip) = if compressible(content_type) {
            let brotli = out.join(format!("{digest}.br"));
            std::fs::write(&brotli, compress_brotli(&bytes)).expect("writing to OUT_DIR");
            let gzip = out.join(format!("{digest}.gz"));
            std::fs::write(&gzip, compress_gzip(&bytes)).expect("writing to OUT_DIR");
            (
                format!("Some(include_bytes!({:?}))", brotli.display().to_string()),
                format!("Some(include_bytes!({:?}))", gzip.display().to_string()),
            )
        } else {
            ("None".to_owned(), "None".to_owned())
        };
        let source = std::fs::canonicalize(path).expect("an existing file");
        writeln!(
            code,
            "    Asset {{ route: {route:?}, content_type: {content_type:?}, etag: \"\\\"{}\\\"\", \
             identity: include_bytes!({:?}), brotli: {brotli}, gzip: {gzip} }},",
            &digest[..16],
            source.display().to_string(),
        )
        .expect("writing to a String");
        println!("cargo::rerun-if-changed={}", path.display());
    }
    code.push(']');
    std::fs::write(out.join("dashboard_assets.rs"), code).expect("writing to OUT_DIR");
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (the dashboard is built by `npm run build` in web/)",
            dir.display()
        )
    });
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/") || content_type == "image/svg+xml"
}

fn compress_brotli(bytes: &[u8]) -> Vec<u8> {
    let mut compressed = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut compressed, 4096, 11, 22);
        writer.write_all(bytes).expect("compressing in memory");
    }
    compressed
}

fn compress_gzip(bytes: &[u8]) -> Vec<u8> {
    let mut writer = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    writer.write_all(bytes).expect("compressing in memory");
    writer.finish().expect("compressing in memory")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
