//! The `Sec-WebSocket-Extensions` grammar (RFC 6455 §9.1, RFC 7230 §3.2.6
//! and §7): what parses, to what, and where what does not fails.

use super::*;

/// An extension as `(name, [(param, value)])`, for short expectations.
type Shape<'a> = (&'a str, Vec<(&'a str, Option<&'a str>)>);

fn shape(extensions: &[Extension]) -> Vec<Shape<'_>> {
    extensions
        .iter()
        .map(|e| {
            let params = e.params().iter().map(|p| (p.name(), p.value())).collect();
            (e.name(), params)
        })
        .collect()
}

#[test]
fn rfc6455_9_1_valid_lists_parse_in_order() {
    let d = "permessage-deflate";
    for (values, expected) in [
        (vec!["permessage-deflate"], vec![(d, vec![])]),
        (
            vec!["permessage-deflate; client_max_window_bits"],
            vec![(d, vec![("client_max_window_bits", None)])],
        ),
        (
            vec!["permessage-deflate;client_max_window_bits=10;server_no_context_takeover"],
            vec![(
                d,
                vec![
                    ("client_max_window_bits", Some("10")),
                    ("server_no_context_takeover", None),
                ],
            )],
        ),
        // Blanks around every separator, tabs included.
        (
            vec!["\t permessage-deflate \t;\t a = 1 ; b\t=\t\"2\" , x ;y "],
            vec![
                (d, vec![("a", Some("1")), ("b", Some("2"))]),
                ("x", vec![("y", None)]),
            ],
        ),
        // Several offers, several lines: one list, in order.
        (
            vec!["a, b; p=1", "c", "a"],
            vec![
                ("a", vec![]),
                ("b", vec![("p", Some("1"))]),
                ("c", vec![]),
                ("a", vec![]),
            ],
        ),
        // RFC 7230 §7: empty elements are skipped, even a line of them.
        (
            vec![", a ,, , b,", " , ", "c"],
            vec![("a", vec![]), ("b", vec![]), ("c", vec![])],
        ),
        // Quoted values are unquoted, escapes included.
        (
            vec![r#"x; a="10"; b="\t\o\k\e\n"; c="!#$%&'*+-.^_`|~""#],
            vec![(
                "x",
                vec![
                    ("a", Some("10")),
                    ("b", Some("token")),
                    ("c", Some("!#$%&'*+-.^_`|~")),
                ],
            )],
        ),
        // Case is kept as received.
        (
            vec!["PerMessage-Deflate; Client_Max_Window_Bits=AbC"],
            vec![(
                "PerMessage-Deflate",
                vec![("Client_Max_Window_Bits", Some("AbC"))],
            )],
        ),
        // Repeated parameters and unknown names are the grammar's to keep,
        // the extension's to judge.
        (
            vec!["x; a; a=1; a"],
            vec![("x", vec![("a", None), ("a", Some("1")), ("a", None)])],
        ),
    ] {
        let parsed = parse(values.iter().copied()).unwrap_or_else(|e| panic!("{values:?}: {e}"));
        assert_eq!(shape(&parsed), expected, "{values:?}");
        // Formatted, it parses back equal.
        let again = parse([format(&parsed).as_str()]).unwrap();
        assert_eq!(again, parsed, "{values:?}");
    }
}

#[test]
fn rfc6455_9_1_malformed_lists_fail_at_the_right_place() {
    for (values, header, position, reason) in [
        (vec![""], 0, 0, "the list names no extension"),
        (vec![" , ,"], 0, 0, "the list names no extension"),
        (vec!["", ", ", ""], 2, 0, "the list names no extension"),
        (vec![";a"], 0, 0, "expected an extension name (a token)"),
        (vec!["a;"], 0, 2, "expected a parameter name (a token)"),
        (vec!["a; ;b"], 0, 3, "expected a parameter name (a token)"),
        (vec!["a; =1"], 0, 3, "expected a parameter name (a token)"),
        (
            vec!["a; b="],
            0,
            5,
            "expected a parameter value (a token or a quoted string)",
        ),
        (
            vec!["a; b=,"],
            0,
            5,
            "expected a parameter value (a token or a quoted string)",
        ),
        (vec!["a b"], 0, 2, "expected ',' or ';' after an extension"),
        (
            vec!["a; b=1 2"],
            0,
            7,
            "expected ',' or ';' after an extension",
        ),
        (
            vec!["a; b=1=2"],
            0,
            6,
            "expected ',' or ';' after an extension",
        ),
        (vec!["a/b"], 0, 1, "expected ',' or ';' after an extension"),
        (
            vec!["a; b/c"],
            0,
            4,
            "expected ',' or ';' after an extension",
        ),
        (
            vec!["ok", "a\u{e9}"],
            1,
            1,
            "expected ',' or ';' after an extension",
        ),
        (vec!["\u{e9}"], 0, 0, "expected an extension name (a token)"),
        (vec!["a; b=\"1"], 0, 7, "unterminated quoted string"),
        (
            vec!["a; b=\"1\\"],
            0,
            8,
            "a backslash must escape a visible character",
        ),
        (
            vec!["a; b=\"\x01\""],
            0,
            6,
            "a control character in a quoted string",
        ),
        (
            vec!["a; b=\"\""],
            0,
            5,
            "a quoted value must be a token once unquoted (RFC 6455 §9.1)",
        ),
        (
            vec!["a; b=\"1 2\""],
            0,
            5,
            "a quoted value must be a token once unquoted (RFC 6455 §9.1)",
        ),
        (
            vec!["a; b=\"x,y\""],
            0,
            5,
            "a quoted value must be a token once unquoted (RFC 6455 §9.1)",
        ),
        (
            vec!["a; b=\"\u{e9}\""],
            0,
            5,
            "a quoted value must be a token once unquoted (RFC 6455 §9.1)",
        ),
        (
            vec!["a; b=\"1\"x"],
            0,
            8,
            "expected ',' or ';' after an extension",
        ),
    ] {
        let error = parse(values.iter().copied()).unwrap_err();
        assert_eq!(
            (error.header(), error.position(), error.reason()),
            (header, position, reason),
            "{values:?}"
        );
    }
    assert!(parse(std::iter::empty()).is_err());
}

#[test]
fn errors_say_which_line_and_byte() {
    let error = parse(["a", "b; c=\"1"]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "malformed Sec-WebSocket-Extensions (line 2, byte 7): unterminated quoted string"
    );
}

#[test]
fn names_compare_ignoring_ascii_case() {
    let parsed = parse(["PERMESSAGE-DEFLATE"]).unwrap();
    assert!(parsed[0].is("permessage-deflate"));
    assert!(!parsed[0].is("permessage-deflat"));
}

#[test]
fn built_extensions_refuse_what_is_not_a_token() {
    assert!(Extension::new("").is_err());
    assert!(Extension::new("a b").is_err());
    let x = Extension::new("x").unwrap();
    assert!(x.clone().with_param("a=b", None).is_err());
    assert!(x.clone().with_param("a", Some("")).is_err());
    assert_eq!(
        x.clone().with_param("a", Some("1 2")).unwrap_err().reason(),
        "a parameter value must be a token"
    );
    let built = x
        .with_param("a", Some("1"))
        .unwrap()
        .with_param("b", None)
        .unwrap();
    assert_eq!(built.to_string(), "x; a=1; b");
    assert_eq!(parse(["x; a=1; b"]).unwrap(), vec![built]);
}

#[test]
fn format_joins_with_commas() {
    let list = parse(["a; p", "b"]).unwrap();
    assert_eq!(format(&list), "a; p, b");
    assert_eq!(format(&[]), "");
}
