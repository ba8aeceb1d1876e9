//! The command language of `rumor node`: one command a line, on its stdin
//! or through its control socket. Parsing never panics; a bad line gets a
//! message that says what was expected.

use std::io::BufRead;

use rumor_net::{Key, KeyId};

/// The longest line read, in bytes: a longer one is refused whole (and read
/// to its end, never buffered).
pub(crate) const MAX_LINE: usize = 16 * 1024;

/// What `help` prints.
pub(crate) const HELP: &str = "\
commands:
  set KEY VALUE       set a value (VALUE is the rest of the line)
  del KEY             remove a value
  get KEY             print a value
  add SET ELEMENT     add to a named set (add-wins)
  rm SET ELEMENT      remove from a named set
  inc COUNTER N       add N (may be negative) to a named counter
  show                print everything this node holds
  members             the members this node holds alive
  stats               the node's counters
  keys list           the installed keys; the primary seals
  keys install KEY    accept envelopes sealed with KEY (its text form)
  keys use ID         seal with the installed key ID
  keys remove ID      refuse envelopes sealed with key ID
  quit                leave the cluster and stop";

/// One command.
#[derive(Debug)]
pub(crate) enum Request {
    Set { key: String, value: String },
    Del { key: String },
    Get { key: String },
    Add { set: String, element: String },
    Rm { set: String, element: String },
    Inc { counter: String, by: i64 },
    Show,
    Members,
    Stats,
    KeysList,
    KeysInstall(Key),
    KeysUse(KeyId),
    KeysRemove(KeyId),
    Help,
    Quit,
}

/// A key id in its text form: 8 hex digits (as `keys list` prints them).
pub(crate) fn key_id(text: &str) -> Result<KeyId, String> {
    let bytes = text.as_bytes();
    let mut id = [0u8; 4];
    let valid = bytes.len() == 8
        && bytes.chunks_exact(2).zip(id.iter_mut()).all(|(pair, out)| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .map(|b| *out = b)
                .is_some()
        });
    if valid {
        Ok(KeyId::from_bytes(id))
    } else {
        Err(format!(
            "`{text}` is not a key id (8 hex digits, as `keys list` prints them)"
        ))
    }
}

/// Parses one line; `Ok(None)` for a blank line.
pub(crate) fn parse(line: &str) -> Result<Option<Request>, String> {
    let line = line.trim();
    let mut words = line.split_whitespace();
    let Some(verb) = words.next() else {
        return Ok(None);
    };
    let args: Vec<&str> = words.collect();
    let exactly = |n: usize, usage: &str| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!("usage: {usage}"))
        }
    };
    let request = match verb {
        "set" => {
            let [key, ..] = args[..] else {
                return Err("usage: set KEY VALUE".into());
            };
            // The value is the rest of the line, inner spaces kept.
            let value = line[verb.len()..].trim_start()[key.len()..].trim();
            if value.is_empty() {
                return Err("usage: set KEY VALUE".into());
            }
            Request::Set {
                key: key.to_string(),
                value: value.to_string(),
            }
        }
        "del" => {
            exactly(1, "del KEY")?;
            Request::Del {
                key: args[0].to_string(),
            }
        }
        "get" => {
            exactly(1, "get KEY")?;
            Request::Get {
                key: args[0].to_string(),
            }
        }
        "add" | "rm" => {
            exactly(2, &format!("{verb} SET ELEMENT"))?;
            let (set, element) = (args[0].to_string(), args[1].to_string());
            if verb == "add" {
                Request::Add { set, element }
            } else {
                Request::Rm { set, element }
            }
        }
        "inc" => {
            exactly(2, "inc COUNTER N")?;
            let by = args[1].parse().map_err(|_| {
                format!(
                    "`{}` is not a whole number from {} to {}",
                    args[1],
                    i64::MIN,
                    i64::MAX
                )
            })?;
            Request::Inc {
                counter: args[0].to_string(),
                by,
            }
        }
        "show" | "members" | "stats" | "help" | "quit" => {
            exactly(0, verb)?;
            match verb {
                "show" => Request::Show,
                "members" => Request::Members,
                "stats" => Request::Stats,
                "help" => Request::Help,
                _ => Request::Quit,
            }
        }
        "keys" => match args[..] {
            ["list"] => Request::KeysList,
            // The key itself is never quoted back.
            ["install", text] => {
                Request::KeysInstall(Key::from_text(text).map_err(|e| e.to_string())?)
            }
            ["use", id] => Request::KeysUse(key_id(id)?),
            ["remove", id] => Request::KeysRemove(key_id(id)?),
            _ => {
                return Err(
                    "usage: keys list | keys install KEY | keys use ID | keys remove ID".into(),
                )
            }
        },
        other => return Err(format!("unknown command `{other}` (`help` lists them)")),
    };
    Ok(Some(request))
}

/// One line read from a stream, at most [`MAX_LINE`] bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    Text(String),
    /// Too long or not UTF-8: refused, the stream read past it.
    Refused(String),
    End,
}

/// Reads one line of at most [`MAX_LINE`] bytes; a longer one is read to its
/// end in pieces and refused, so memory stays bounded whatever the input.
pub(crate) fn read_line<R: BufRead>(input: &mut R) -> std::io::Result<Line> {
    let mut buf = Vec::new();
    let limit = MAX_LINE as u64 + 1;
    let n = <&mut R as std::io::Read>::take(&mut *input, limit).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(Line::End);
    }
    if buf.last() != Some(&b'\n') && buf.len() > MAX_LINE {
        // Skip the rest of this line, a bounded piece at a time.
        loop {
            buf.clear();
            let n =
                <&mut R as std::io::Read>::take(&mut *input, limit).read_until(b'\n', &mut buf)?;
            if n == 0 || buf.last() == Some(&b'\n') {
                break;
            }
        }
        return Ok(Line::Refused(format!(
            "line longer than {MAX_LINE} bytes: ignored"
        )));
    }
    match String::from_utf8(buf) {
        Ok(text) => Ok(Line::Text(text)),
        Err(_) => Ok(Line::Refused("line is not UTF-8: ignored".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_parses_and_a_value_keeps_its_spaces() {
        let Ok(Some(Request::Set { key, value })) = parse("  set greeting  hello  world ") else {
            panic!("set parses");
        };
        assert_eq!((key.as_str(), value.as_str()), ("greeting", "hello  world"));
        assert!(matches!(
            parse("inc hits -3"),
            Ok(Some(Request::Inc { by: -3, .. }))
        ));
        assert!(matches!(parse("rm tags x"), Ok(Some(Request::Rm { .. }))));
        assert!(matches!(
            parse("keys use 2f122b3b"),
            Ok(Some(Request::KeysUse(_)))
        ));
        assert!(matches!(parse("   "), Ok(None)));
    }

    #[test]
    fn bad_lines_say_what_was_expected() {
        for (line, expected) in [
            ("set k", "usage: set KEY VALUE"),
            ("inc hits lots", "`lots` is not a whole number"),
            ("inc hits 99999999999999999999", "is not a whole number"),
            ("add tags", "usage: add SET ELEMENT"),
            ("keys use zz", "`zz` is not a key id"),
            ("keys use 2f122b3g", "is not a key id"),
            ("keys install secret", "not a key"),
            ("frobnicate", "unknown command `frobnicate`"),
            ("show all", "usage: show"),
        ] {
            let error = parse(line).expect_err(line);
            assert!(error.contains(expected), "{line}: {error}");
            assert!(!error.contains("secret"), "a key is never quoted back");
        }
    }

    #[test]
    fn a_long_line_is_refused_and_the_next_one_read() {
        let mut input = format!("{}\nget k\n", "x".repeat(3 * MAX_LINE + 5)).into_bytes();
        input.extend_from_slice(b"\xff\xfe\n");
        let mut reader = std::io::BufReader::with_capacity(64, &input[..]);
        assert!(matches!(read_line(&mut reader), Ok(Line::Refused(_))));
        assert_eq!(
            read_line(&mut reader).ok(),
            Some(Line::Text("get k\n".into()))
        );
        assert!(matches!(read_line(&mut reader), Ok(Line::Refused(_))));
        assert_eq!(read_line(&mut reader).ok(), Some(Line::End));
    }
}
