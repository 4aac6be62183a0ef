//! The stylesheet and script, compiled into the binary (no build step, no CDN) and served
//! under names that carry a hash of their content, so browsers may cache them for a year: a
//! new build that changes a file changes its name.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// One embedded file.
pub struct Asset {
    stem: &'static str,
    extension: &'static str,
    content_type: &'static str,
    body: &'static str,
}

pub static CSS: Asset = Asset {
    stem: "app",
    extension: "css",
    content_type: "text/css; charset=utf-8",
    body: include_str!("../assets/app.css"),
};

pub static JS: Asset = Asset {
    stem: "app",
    extension: "js",
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("../assets/app.js"),
};

static ALL: [&Asset; 2] = [&CSS, &JS];

/// Each asset's served name, `stem-<first 16 hex of SHA-256>.ext`, computed once.
static NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
    ALL.iter()
        .map(|a| {
            let digest = Sha256::digest(a.body.as_bytes());
            format!("{}-{}.{}", a.stem, &hex::encode(digest)[..16], a.extension)
        })
        .collect()
});

/// The URL path of an asset.
pub fn path(asset: &Asset) -> String {
    let i = ALL
        .iter()
        .position(|a| std::ptr::eq(*a, asset))
        .expect("every asset is listed in ALL");
    format!("/assets/{}", NAMES[i])
}

/// `GET /assets/{name}`: only the current hashed names exist.
pub async fn serve(Path(name): Path<String>) -> Response {
    match NAMES.iter().position(|n| *n == name) {
        Some(i) => (
            [
                (header::CONTENT_TYPE, ALL[i].content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            ALL[i].body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
