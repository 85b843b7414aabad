//! The dashboard's built files (`web/dist`), embedded by `build.rs` with their brotli and gzip
//! forms, served in the best encoding the client accepts, with an ETag.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
pub struct Asset {
    /// Its path under `web/dist`, e.g. `/assets/main-4F2KQ.js`.
    pub route: &'static str,
    pub content_type: &'static str,
    /// A strong validator: the start of the file's SHA-256, quoted.
    pub etag: &'static str,
    pub identity: &'static [u8],
    pub brotli: Option<&'static [u8]>,
    pub gzip: Option<&'static [u8]>,
}

static ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/dashboard_assets.rs"));

/// The embedded file at `route`.
pub fn find(route: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.route == route)
}

/// Every embedded file.
pub fn all() -> &'static [Asset] {
    ASSETS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

/// The best encoding of brotli, gzip and none that `Accept-Encoding` allows (`q=0` refuses one).
fn negotiate(headers: &HeaderMap) -> Encoding {
    let mut brotli = false;
    let mut gzip = false;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|param| {
                param
                    .trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            match name {
                "br" => brotli = !refused,
                "gzip" => gzip = !refused,
                _ => {}
            }
        }
    }
    if brotli {
        Encoding::Brotli
    } else if gzip {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

impl Asset {
    /// The file as an answer to a request with `headers`, cached as `cache_control` says.
    pub fn respond(&self, headers: &HeaderMap, cache_control: &'static str) -> Response {
        let mut response = if headers
            .get(header::IF_NONE_MATCH)
            .is_some_and(|tags| tags.as_bytes() == self.etag.as_bytes())
        {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let (body, encoding) = match (negotiate(headers), self.brotli, self.gzip) {
                (Encoding::Brotli, Some(brotli), _) => (brotli, Some("br")),
                (Encoding::Brotli | Encoding::Gzip, _, Some(gzip)) => (gzip, Some("gzip")),
                _ => (self.identity, None),
            };
            let mut response = body.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.content_type),
            );
            if let Some(encoding) = encoding {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
            }
            response
        };
        let headers = response.headers_mut();
        headers.insert(header::ETAG, HeaderValue::from_static(self.etag));
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        );
        if self.brotli.is_some() {
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepting(value: &str) -> Encoding {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, value.parse().unwrap());
        negotiate(&headers)
    }

    #[test]
    fn picks_the_best_accepted_encoding() {
        assert_eq!(accepting("gzip, deflate, br, zstd"), Encoding::Brotli);
        assert_eq!(accepting("gzip, deflate"), Encoding::Gzip);
        assert_eq!(accepting("br;q=0, gzip;q=0.5"), Encoding::Gzip);
        assert_eq!(accepting("identity"), Encoding::Identity);
        assert_eq!(negotiate(&HeaderMap::new()), Encoding::Identity);
    }

    #[test]
    fn the_page_and_its_assets_are_embedded() {
        let page = find("/index.html").expect("web/dist/index.html is embedded");
        let page_text = std::str::from_utf8(page.identity).unwrap();
        for asset in all()
            .iter()
            .filter(|asset| asset.route.starts_with("/assets/"))
        {
            assert!(asset.route.len() > "/assets/".len());
            if asset.content_type.starts_with("text/") {
                assert!(
                    asset.brotli.is_some() && asset.gzip.is_some(),
                    "{}",
                    asset.route
                );
            }
        }
        for reference in page_text
            .split('"')
            .filter(|part| part.starts_with("/assets/"))
        {
            assert!(
                find(reference).is_some(),
                "index.html names {reference}, which is not embedded"
            );
        }
    }
}
