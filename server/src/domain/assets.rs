//! Assets: stored files (product images and anything else a tenant uploads), and the rules
//! for what their names and types may be.

/// A stored file's record; its bytes live in the object store under [`Asset::object_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// The product this asset is an image of, with its position among that product's images.
    pub product_id: Option<String>,
    pub position: Option<i64>,
    pub created_at: i64,
}

/// One of a product's images, as a product carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductImage {
    pub asset_id: String,
    pub filename: String,
    pub content_type: String,
}

/// The raster image types served inline (what an `<img>` shows), each with the first bytes a
/// file of that type starts with: an upload declaring one must begin with them. Everything
/// else is served as an attachment.
const RASTER: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
];

/// Bytes needed to tell whether a file is the image type it declares.
pub const SNIFF_BYTES: usize = 16;

/// Whether `content_type` (lowercase, without parameters) is a raster image served inline.
pub fn is_raster(content_type: &str) -> bool {
    RASTER.contains(&content_type)
}

/// Whether `head` (the file's first bytes, at least [`SNIFF_BYTES`] of them unless the file is
/// shorter) is a file of the raster type `content_type`.
pub fn matches_image_type(content_type: &str, head: &[u8]) -> bool {
    match content_type {
        "image/png" => head.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => head.starts_with(b"\xff\xd8\xff"),
        "image/gif" => head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a"),
        "image/webp" => head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP",
        "image/avif" => {
            head.len() >= 12 && &head[4..8] == b"ftyp" && matches!(&head[8..12], b"avif" | b"avis")
        }
        _ => true,
    }
}

/// A `Content-Type` as stored: its essence (`type/subtype`, lowercase) and its parameters as
/// sent, or `None` when it is not a media type.
pub fn normalize_content_type(value: &str) -> Option<String> {
    let value = value.trim();
    let (essence, params) = match value.split_once(';') {
        Some((essence, params)) => (essence.trim(), Some(params.trim())),
        None => (value, None),
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    let (kind, subtype) = essence.split_once('/')?;
    if !token(kind) || !token(subtype) || value.len() > 255 || value.chars().any(char::is_control) {
        return None;
    }
    let essence = essence.to_ascii_lowercase();
    Some(match params.filter(|p| !p.is_empty()) {
        Some(params) => format!("{essence}; {params}"),
        None => essence,
    })
}

/// The essence of a stored content type: `type/subtype`, without parameters.
pub fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// A filename as kept: its last path component (after `/` or `\`), without control
/// characters, surrounding spaces or leading dots, at most 255 bytes; `None` when nothing is
/// left (`..`, `/`, only control characters).
pub fn sanitize_filename(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        return None;
    }
    let mut end = cleaned.len().min(255);
    while !cleaned.is_char_boundary(end) {
        end -= 1;
    }
    Some(cleaned[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_lose_directories_controls_and_traversal() {
        assert_eq!(sanitize_filename("mug.png").as_deref(), Some("mug.png"));
        assert_eq!(
            sanitize_filename("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(sanitize_filename("C:\\x\\y.jpg").as_deref(), Some("y.jpg"));
        assert_eq!(
            sanitize_filename("a\u{0}b\nc.txt").as_deref(),
            Some("abc.txt")
        );
        assert_eq!(sanitize_filename(".hidden").as_deref(), Some("hidden"));
        assert_eq!(sanitize_filename(".."), None);
        assert_eq!(sanitize_filename("dir/"), None);
        assert_eq!(sanitize_filename("\u{7}"), None);
        let long = "é".repeat(200);
        assert!(sanitize_filename(&long).unwrap().len() <= 255);
    }

    #[test]
    fn content_types_are_media_types() {
        assert_eq!(
            normalize_content_type("Image/PNG").as_deref(),
            Some("image/png")
        );
        assert_eq!(
            normalize_content_type("text/plain; charset=utf-8").as_deref(),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(normalize_content_type("png"), None);
        assert_eq!(normalize_content_type("image/"), None);
        assert_eq!(normalize_content_type("a b/c"), None);
    }

    #[test]
    fn image_types_are_checked_against_their_first_bytes() {
        assert!(matches_image_type(
            "image/png",
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"
        ));
        assert!(!matches_image_type("image/png", b"<svg xmlns="));
        assert!(matches_image_type("image/jpeg", b"\xff\xd8\xff\xe0"));
        assert!(matches_image_type("image/gif", b"GIF89a...."));
        assert!(matches_image_type("image/webp", b"RIFF\0\0\0\0WEBPVP8 "));
        assert!(!matches_image_type("image/webp", b"RIFF\0\0\0\0WAVE"));
        assert!(matches_image_type("image/avif", b"\0\0\0\x1cftypavif"));
        assert!(matches_image_type("image/svg+xml", b"<svg"));
        assert!(is_raster("image/png") && !is_raster("image/svg+xml") && !is_raster("text/html"));
    }
}
