//! Names and prose from the model: botocore's operation names, titles, and the first sentences of
//! its HTML documentation as plain text.

/// A CamelCase name in words, split where botocore's `xform_name` puts `_`: before a capital
/// that follows a lower-case letter or digit, or that starts a word after an acronym
/// (`ListObjectsV2` → List Objects V2, `SSECustomer` → SSE Customer).
fn camel_words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words: Vec<String> = Vec::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1);
        let boundary = c.is_ascii_uppercase()
            && prev.is_some_and(|p| {
                p.is_ascii_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_ascii_uppercase() && next.is_some_and(char::is_ascii_lowercase))
            });
        if boundary || words.is_empty() {
            words.push(String::new());
        }
        words.last_mut().expect("a word").push(c);
    }
    words
}

/// botocore's `xform_name`: `ListObjectsV2` → `list_objects_v2`, `GetBucketAcl` → `get_bucket_acl`.
pub fn snake(aws: &str) -> String {
    camel_words(aws).join("_").to_ascii_lowercase()
}

/// A member name as a title: `ChecksumCRC32` → "Checksum CRC32", `VersionId` → "Version ID",
/// `ETag` → "ETag".
pub fn member_title(name: &str) -> String {
    // A single capital before a word is part of it (`ETag`).
    let mut words: Vec<String> = Vec::new();
    for w in camel_words(name) {
        match words.last_mut() {
            Some(last) if last.len() == 1 => last.push_str(&w),
            _ => words.push(w),
        }
    }
    words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let caps = w.chars().filter(char::is_ascii_uppercase).count();
            match w.as_str() {
                "Id" => "ID".to_string(),
                _ if i == 0 || caps > 1 => w.clone(),
                _ => w.to_ascii_lowercase(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `PutBucketCors` → "Put bucket CORS", `ListObjectsV2` → "List objects V2".
pub fn title(aws: &str) -> String {
    let words: Vec<String> = snake(aws)
        .split('_')
        .enumerate()
        .map(|(i, w)| match w {
            "acl" | "cors" | "abac" => w.to_ascii_uppercase(),
            "v2" => "V2".into(),
            _ if i == 0 => {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            }
            _ => w.to_string(),
        })
        .collect();
    words.join(" ")
}

/// The first sentences of a model documentation string, as plain text: tags dropped, entities
/// decoded, whitespace collapsed, cut at the first sentence end after 120 characters, or at 400
/// characters with an ellipsis.
pub fn first_sentences(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    let mut tag = String::new();
    for c in html.chars() {
        match (in_tag, c) {
            (false, '<') => {
                in_tag = true;
                tag.clear();
            }
            (true, '>') => {
                in_tag = false;
                // A paragraph or list item ends a sentence's run of text.
                if tag.starts_with("/p") || tag.starts_with("/li") || tag.starts_with("br") {
                    text.push(' ');
                }
            }
            (true, c) => tag.push(c),
            (false, c) => text.push(c),
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut cut = text.len();
    let mut chars = 0;
    for (i, c) in text.char_indices() {
        chars += 1;
        if c == '.' && chars >= 120 && text[i + 1..].starts_with(' ') {
            cut = i + 1;
            break;
        }
        if chars >= 400 {
            return format!("{}…", text[..i].trim_end());
        }
    }
    text[..cut].trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_botocore_writes_them() {
        assert_eq!(snake("ListObjectsV2"), "list_objects_v2");
        assert_eq!(snake("GetBucketAcl"), "get_bucket_acl");
        assert_eq!(snake("PutBucketCors"), "put_bucket_cors");
        assert_eq!(snake("HeadObject"), "head_object");
        assert_eq!(title("PutBucketCors"), "Put bucket CORS");
        assert_eq!(title("ListObjectsV2"), "List objects V2");
        assert_eq!(member_title("ChecksumCRC32"), "Checksum CRC32");
        assert_eq!(member_title("VersionId"), "Version ID");
        assert_eq!(member_title("ETag"), "ETag");
        assert_eq!(member_title("IsTruncated"), "Is truncated");
    }

    #[test]
    fn documentation_to_plain_text() {
        assert_eq!(
            first_sentences("<p>Removes the <code>tagging</code> &amp; more.</p>"),
            "Removes the tagging & more."
        );
    }
}
