//! Each operation's hints (read-only, destructive, idempotent), which MCP's tool annotations and
//! a UI's confirmation step use. Neither the docs page nor AWS's model says them; the HTTP
//! method says most, and the table below the rest, each exception with its reason.

use s3_connector::manifest::{Hints, Operation, Runner};

/// By method: `GET` and `HEAD` read; `PUT` writes in place of what is there (an object, a
/// configuration); `DELETE` removes; `POST` adds something new each time (an upload, a
/// restore) and is not repeatable. All but `POST` are idempotent, as HTTP defines them.
fn by_method(method: &str) -> Result<Hints, String> {
    let (read_only, destructive, idempotent) = match method {
        "GET" | "HEAD" => (true, false, true),
        "PUT" | "DELETE" => (false, true, true),
        "POST" => (false, false, false),
        other => return Err(format!("no hints for HTTP method {other}")),
    };
    Ok(Hints {
        read_only,
        destructive,
        idempotent,
    })
}

/// (operation, read-only, destructive, idempotent, reason): where the method says otherwise.
const EXCEPTIONS: &[(&str, bool, bool, bool, &str)] = &[
    (
        "delete_prefix",
        false,
        true,
        true,
        "lists with GET, then deletes every key (and version) under the prefix",
    ),
    (
        "presign_put_object",
        true,
        false,
        true,
        "signs a URL locally and sends nothing; whoever holds the URL writes",
    ),
    (
        "presign_upload_part",
        true,
        false,
        true,
        "signs a URL locally and sends nothing; whoever holds the URL writes",
    ),
    (
        "create_bucket",
        false,
        false,
        true,
        "refuses an existing bucket (BucketAlreadyExists) rather than replacing it",
    ),
    (
        "create_bucket_in_region",
        false,
        false,
        true,
        "refuses an existing bucket (BucketAlreadyExists) rather than replacing it",
    ),
    (
        "upload_part_in_multipart",
        false,
        false,
        true,
        "writes a part of an unfinished upload, not an object",
    ),
    (
        "copy_part_in_multipart",
        false,
        false,
        true,
        "writes a part of an unfinished upload, not an object",
    ),
    (
        "complete_multipart_upload",
        false,
        true,
        false,
        "a POST that puts the object at its key in place of any there; a repeat finds no upload",
    ),
    (
        "delete_objects",
        false,
        true,
        true,
        "a POST that deletes; deleting the same keys again changes nothing",
    ),
];

/// The hints of operation `name` sent with `method` (and run by `runner`, if any).
pub(crate) fn hints(name: &str, method: &str, runner: Option<Runner>) -> Result<Hints, String> {
    if let Some(&(_, read_only, destructive, idempotent, _)) =
        EXCEPTIONS.iter().find(|(n, ..)| *n == name)
    {
        return Ok(Hints {
            read_only,
            destructive,
            idempotent,
        });
    }
    if runner == Some(Runner::Presign) && method != "GET" {
        return Err(format!(
            "{name}: a presigned {method} writes when used; give its hints in hints.rs"
        ));
    }
    by_method(method).map_err(|e| format!("{name}: {e}"))
}

/// Every exception names an operation that exists, and no hints contradict each other.
pub(crate) fn check(operations: &[Operation]) -> Result<(), String> {
    for (name, ..) in EXCEPTIONS {
        if !operations.iter().any(|o| o.name == *name) {
            return Err(format!("hints.rs names unknown operation `{name}`"));
        }
    }
    for op in operations {
        if op.hints.read_only && op.hints.destructive {
            return Err(format!("{}: read-only and destructive at once", op.name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_exceptions() {
        let get = hints("get_object", "GET", None).unwrap();
        assert!(get.read_only && !get.destructive && get.idempotent);
        let post = hints("create_multipart_upload", "POST", None).unwrap();
        assert!(!post.read_only && !post.destructive && !post.idempotent);
        let prefix = hints("delete_prefix", "GET", Some(Runner::DeletePrefix)).unwrap();
        assert!(!prefix.read_only && prefix.destructive);
        assert!(hints("presign_new_thing", "PUT", Some(Runner::Presign)).is_err());
        assert!(hints("odd", "PATCH", None).is_err());
    }
}
