//! Parser for the vendor's docs page (`connector/aws-s3-v2.md`).
//!
//! The page's grammar, as it is written:
//!
//! ```text
//! ---  front matter  ---
//! ## operation_name
//! description lines (may hold the AWS link)
//! *This operation has no parameters*            | <details><summary>Parameters</summary>
//!                                               | #### Name  or  #### Name (required)
//!                                               | optional description line(s)
//!                                               | **Type:** string|STRING|integer
//!                                               | </details>
//! ```
//!
//! Anything else is an error naming the line: a generator that guesses would hide a changed page.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocOperation {
    pub name: String,
    pub description: String,
    pub link: Option<String>,
    pub parameters: Vec<DocParameter>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocParameter {
    pub name: String,
    pub required: bool,
    pub description: Option<String>,
    /// As written on the page: `string`, `STRING` or `integer`.
    pub docs_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "docs page line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// The parameter types the page uses. A new one must be mapped deliberately.
pub const KNOWN_TYPES: &[&str] = &["string", "STRING", "integer"];

const DETAILS_OPEN: &str = "<details><summary>Parameters</summary>";
const DETAILS_CLOSE: &str = "</details>";
const NO_PARAMETERS: &str = "*This operation has no parameters*";
const TYPE_PREFIX: &str = "**Type:**";

enum State {
    Preamble,
    Description,
    NoParameters,
    Parameters,
    ParameterBody,
    AfterDetails,
}

pub fn parse(text: &str) -> Result<Vec<DocOperation>, ParseError> {
    let err = |line: usize, message: String| ParseError { line, message };
    let mut ops: Vec<DocOperation> = Vec::new();
    let mut state = State::Preamble;
    let mut in_front_matter = false;
    let mut pending: Option<(DocParameter, Vec<String>)> = None;
    let mut description: Vec<String> = Vec::new();

    for (idx, raw) in text.lines().enumerate() {
        let n = idx + 1;
        let line = raw.trim();
        if n == 1 && line == "---" {
            in_front_matter = true;
            continue;
        }
        if in_front_matter {
            if line == "---" {
                in_front_matter = false;
            }
            continue;
        }
        if let Some(name) = line.strip_prefix("## ") {
            if matches!(state, State::Parameters | State::ParameterBody) {
                return Err(err(n, "new operation before `</details>`".into()));
            }
            finish_description(&mut ops, &mut description);
            let name = name.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                return Err(err(n, format!("operation name `{name}` is not snake_case")));
            }
            if ops.iter().any(|o| o.name == name) {
                return Err(err(n, format!("duplicate operation `{name}`")));
            }
            ops.push(DocOperation {
                name: name.to_string(),
                description: String::new(),
                link: None,
                parameters: Vec::new(),
            });
            state = State::Description;
            continue;
        }
        match state {
            State::Preamble => {
                if !line.is_empty() {
                    return Err(err(n, format!("text before the first operation: `{line}`")));
                }
            }
            State::Description => {
                if line == NO_PARAMETERS {
                    finish_description(&mut ops, &mut description);
                    state = State::NoParameters;
                } else if line == DETAILS_OPEN {
                    finish_description(&mut ops, &mut description);
                    state = State::Parameters;
                } else if line.starts_with('#') || line.starts_with("**") || line.starts_with('<') {
                    return Err(err(
                        n,
                        format!("unexpected line in a description: `{line}`"),
                    ));
                } else if !line.is_empty() {
                    description.push(line.to_string());
                }
            }
            State::NoParameters | State::AfterDetails => {
                if !line.is_empty() {
                    return Err(err(
                        n,
                        format!("unexpected text after the parameters: `{line}`"),
                    ));
                }
            }
            State::Parameters | State::ParameterBody => {
                if line.is_empty() {
                    continue;
                }
                if line == DETAILS_CLOSE {
                    if let Some((p, _)) = &pending {
                        let name = &p.name;
                        return Err(err(
                            n,
                            format!("parameter `{name}` has no `**Type:**` line"),
                        ));
                    }
                    state = State::AfterDetails;
                } else if let Some(heading) = line.strip_prefix("#### ") {
                    if let Some((p, _)) = &pending {
                        return Err(err(
                            n,
                            format!("parameter `{}` has no `**Type:**` line", p.name),
                        ));
                    }
                    let (name, required) = match heading.trim().strip_suffix("(required)") {
                        Some(rest) => (rest.trim(), true),
                        None => (heading.trim(), false),
                    };
                    if name.is_empty() || name.contains(char::is_whitespace) {
                        return Err(err(n, format!("cannot read parameter heading `{heading}`")));
                    }
                    let op = ops.last().expect("state implies an operation");
                    if op.parameters.iter().any(|p| p.name == name) {
                        return Err(err(
                            n,
                            format!("duplicate parameter `{name}` in `{}`", op.name),
                        ));
                    }
                    pending = Some((
                        DocParameter {
                            name: name.to_string(),
                            required,
                            description: None,
                            docs_type: String::new(),
                        },
                        Vec::new(),
                    ));
                    state = State::ParameterBody;
                } else if let Some(ty) = line.strip_prefix(TYPE_PREFIX) {
                    let Some((mut param, desc)) = pending.take() else {
                        return Err(err(
                            n,
                            "`**Type:**` line without a parameter heading".into(),
                        ));
                    };
                    let ty = ty.trim();
                    if !KNOWN_TYPES.contains(&ty) {
                        return Err(err(
                            n,
                            format!(
                                "unknown type `{ty}` for parameter `{}` (known: {KNOWN_TYPES:?})",
                                param.name
                            ),
                        ));
                    }
                    param.docs_type = ty.to_string();
                    if !desc.is_empty() {
                        param.description = Some(desc.join(" "));
                    }
                    ops.last_mut().expect("operation").parameters.push(param);
                    state = State::Parameters;
                } else if let Some((_, desc)) = pending.as_mut() {
                    if line.starts_with('#') || line.starts_with('<') {
                        return Err(err(n, format!("unexpected line in a parameter: `{line}`")));
                    }
                    desc.push(line.to_string());
                } else {
                    return Err(err(n, format!("text outside a parameter: `{line}`")));
                }
            }
        }
    }
    if in_front_matter {
        return Err(err(
            text.lines().count(),
            "front matter is not closed".into(),
        ));
    }
    if matches!(state, State::Parameters | State::ParameterBody) {
        return Err(err(
            text.lines().count(),
            "`<details>` block is not closed".into(),
        ));
    }
    finish_description(&mut ops, &mut description);
    if ops.is_empty() {
        return Err(err(1, "no operations found".into()));
    }
    Ok(ops)
}

fn finish_description(ops: &mut [DocOperation], lines: &mut Vec<String>) {
    if lines.is_empty() {
        return;
    }
    if let Some(op) = ops.last_mut() {
        let text = lines.join("\n");
        op.link = text
            .split_whitespace()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
            .map(|w| w.trim_end_matches(['.', ',', ')']).to_string());
        op.description = text;
    }
    lines.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "---\nid: x\n---\n\n## get_thing\n\nGet a thing: http://example.invalid/a.html\nSecond line.\n\n<details><summary>Parameters</summary>\n\n#### Bucket (required)\n\n**Type:** string\n\n#### max-parts\n\nSets the maximum.\n\n**Type:** integer\n\n</details>\n\n## list_all\n\n*This operation has no parameters*\n";

    #[test]
    fn parses_the_grammar() {
        let ops = parse(PAGE).unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].name, "get_thing");
        assert_eq!(
            ops[0].link.as_deref(),
            Some("http://example.invalid/a.html")
        );
        assert_eq!(
            ops[0].description,
            "Get a thing: http://example.invalid/a.html\nSecond line."
        );
        assert_eq!(ops[0].parameters[0].name, "Bucket");
        assert!(ops[0].parameters[0].required);
        assert_eq!(ops[0].parameters[0].description, None);
        assert_eq!(ops[0].parameters[1].docs_type, "integer");
        assert_eq!(
            ops[0].parameters[1].description.as_deref(),
            Some("Sets the maximum.")
        );
        assert!(!ops[0].parameters[1].required);
        assert!(ops[1].parameters.is_empty());
    }

    #[test]
    fn refuses_unknown_type() {
        let page = PAGE.replace("**Type:** integer", "**Type:** long");
        let e = parse(&page).unwrap_err();
        assert!(e.message.contains("unknown type `long`"), "{e}");
        assert_eq!(e.line, 20);
    }

    #[test]
    fn refuses_duplicates() {
        let page = format!("{PAGE}\n## get_thing\n\n*This operation has no parameters*\n");
        assert!(parse(&page)
            .unwrap_err()
            .message
            .contains("duplicate operation"));
        let page = PAGE.replace("#### max-parts", "#### Bucket");
        assert!(parse(&page)
            .unwrap_err()
            .message
            .contains("duplicate parameter `Bucket`"));
    }

    #[test]
    fn refuses_missing_type_and_unclosed_block() {
        let page = PAGE.replace("**Type:** string\n", "");
        assert!(parse(&page)
            .unwrap_err()
            .message
            .contains("has no `**Type:**`"));
        let page = PAGE.replace("</details>\n", "");
        assert!(parse(&page).is_err());
    }
}
