//! The one part of a `multipart/form-data` body (RFC 7578) that `POST /v1/encode` reads: the
//! first part that carries a file (`filename=` in its `Content-Disposition`), or else the part
//! named `image`. Parsing only, over bytes; every malformed body is an error, never a panic.

use crate::ApiError;

/// The boundary of a `multipart/form-data` content type (`boundary=...`, quoted or not).
pub fn boundary(content_type: &str) -> Result<&str, ApiError> {
    let b = content_type
        .split(';')
        .skip(1)
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"'))
        .ok_or_else(|| ApiError::bad_request("multipart/form-data without a boundary"))?;
    if b.is_empty() || b.len() > 70 {
        return Err(ApiError::bad_request(
            "a multipart boundary is 1 to 70 characters",
        ));
    }
    Ok(b)
}

/// The bytes of the image part of `body` (see the module's rule).
pub fn image_part<'a>(body: &'a [u8], boundary: &str) -> Result<&'a [u8], ApiError> {
    let delim = format!("--{boundary}");
    let parts = split(body, delim.as_bytes())?;
    let mut named = None;
    for part in parts {
        let (head, content) = split_head(part)?;
        let disposition = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-disposition")
                    .then_some(v)
            })
            .unwrap_or("");
        let params: Vec<(String, String)> = disposition
            .split(';')
            .skip(1)
            .filter_map(|p| p.trim().split_once('='))
            .map(|(k, v)| {
                (
                    k.trim().to_ascii_lowercase(),
                    v.trim().trim_matches('"').into(),
                )
            })
            .collect();
        if params.iter().any(|(k, _)| k == "filename") {
            return Ok(content);
        }
        if named.is_none() && params.iter().any(|(k, v)| k == "name" && v == "image") {
            named = Some(content);
        }
    }
    named.ok_or_else(|| {
        ApiError::bad_request("the multipart body has no file part (and no part named \"image\")")
    })
}

/// The parts between the delimiters, each without its delimiter line and the CRLF before the
/// next delimiter.
fn split<'a>(body: &'a [u8], delim: &[u8]) -> Result<Vec<&'a [u8]>, ApiError> {
    let starts: Vec<usize> = find_all(body, delim);
    if starts.is_empty() {
        return Err(ApiError::bad_request(
            "the multipart body never shows its boundary",
        ));
    }
    let mut parts = Vec::new();
    for w in starts.windows(2) {
        let (from, to) = (w[0] + delim.len(), w[1]);
        let part = &body[from..to];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        parts.push(part.strip_suffix(b"\r\n").unwrap_or(part));
    }
    let last = starts[starts.len() - 1] + delim.len();
    if !body[last..].starts_with(b"--") {
        return Err(ApiError::bad_request(
            "the multipart body does not end with its closing boundary",
        ));
    }
    Ok(parts)
}

/// A part's header lines (text) and its content, split at the first blank line.
fn split_head(part: &[u8]) -> Result<(&str, &[u8]), ApiError> {
    let at = find_all(part, b"\r\n\r\n")
        .first()
        .copied()
        .ok_or_else(|| {
            ApiError::bad_request("a multipart part without a blank line after its headers")
        })?;
    let head = std::str::from_utf8(&part[..at])
        .map_err(|_| ApiError::bad_request("multipart part headers are not UTF-8"))?;
    Ok((head, &part[at + 4..]))
}

/// Every start of `needle` in `hay` (non-overlapping).
fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        if &hay[i..i + needle.len()] == needle {
            out.push(i);
            i += needle.len();
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\
Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\nDATA\r\n--XyZ--\r\n";

    #[test]
    fn the_file_part_by_hand() {
        assert_eq!(
            boundary("multipart/form-data; boundary=XyZ").unwrap(),
            "XyZ"
        );
        assert_eq!(
            boundary("multipart/form-data; charset=x; boundary=\"XyZ\"").unwrap(),
            "XyZ"
        );
        assert!(boundary("multipart/form-data").is_err());
        assert_eq!(image_part(BODY, "XyZ").unwrap(), b"\x89PNG\r\n\x1a\nDATA");
    }

    #[test]
    fn a_part_named_image_and_bad_bodies() {
        let named = b"--b\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nRAW\r\n--b--";
        assert_eq!(image_part(named, "b").unwrap(), b"RAW");
        let e = image_part(
            b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--",
            "b",
        );
        assert!(e.unwrap_err().message.contains("no file part"));
        assert!(image_part(b"no boundary here", "b").is_err());
        assert!(image_part(b"--b\r\nno blank line\r\n--b--", "b").is_err());
        let open = image_part(
            b"--b\r\nContent-Disposition: form-data; filename=x\r\n\r\n1",
            "b",
        );
        assert!(open.unwrap_err().message.contains("closing boundary"));
    }
}
