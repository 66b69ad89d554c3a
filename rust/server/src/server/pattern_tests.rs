//! Route pattern matching, case by case against what Starlette's router does
//! with the same table and path.

use super::*;

fn params(pattern: &str, path: &str) -> Option<Vec<(String, &'static str, String)>> {
    Pattern::parse(pattern).unwrap().matches(path).map(|ps| {
        ps.into_iter()
            .map(|p| (p.name, p.convertor.as_str(), p.value))
            .collect()
    })
}

fn one(pattern: &str, path: &str) -> Option<String> {
    params(pattern, path).map(|mut ps| ps.remove(0).2)
}

#[test]
fn str_is_one_segment() {
    assert_eq!(
        one("/rooms/{room_id}", "/rooms/lobby").as_deref(),
        Some("lobby")
    );
    assert_eq!(one("/rooms/{room_id}", "/rooms/a/b"), None);
    assert_eq!(one("/rooms/{room_id}", "/rooms/"), None);
    assert_eq!(one("/rooms/{room_id}", "/rooms"), None);
}

#[test]
fn int_float_uuid_path() {
    assert_eq!(one("/n/{id:int}", "/n/42").as_deref(), Some("42"));
    assert_eq!(one("/n/{id:int}", "/n/-4"), None);
    assert_eq!(one("/n/{id:int}", "/n/4x"), None);
    assert_eq!(one("/f/{x:float}", "/f/3.25").as_deref(), Some("3.25"));
    assert_eq!(one("/f/{x:float}", "/f/3").as_deref(), Some("3"));
    assert_eq!(one("/f/{x:float}", "/f/3."), None);
    assert_eq!(one("/f/{x:float}", "/f/.5"), None);
    let u = "c3a9a1d2-6bc4-4d47-9bb6-1a3e1d5b7e10";
    assert_eq!(one("/u/{u:uuid}", &format!("/u/{u}")).as_deref(), Some(u));
    let bare = u.replace('-', "");
    assert_eq!(one("/u/{u:uuid}", &format!("/u/{bare}")), Some(bare));
    assert_eq!(one("/u/{u:uuid}", "/u/c3a9a1d2-6bc4"), None);
    assert_eq!(one("/u/{u:uuid}", &format!("/u/-{}", &u[1..])), None);
    assert_eq!(one("/s/{rest:path}", "/s/a/b/c").as_deref(), Some("a/b/c"));
    assert_eq!(one("/s/{rest:path}", "/s/").as_deref(), Some(""));
}

#[test]
fn holes_backtrack_like_a_greedy_regex() {
    assert_eq!(
        params("/{a}-{b}", "/x-y-z"),
        Some(vec![
            ("a".into(), "str", "x-y".into()),
            ("b".into(), "str", "z".into())
        ])
    );
    assert_eq!(one("/{p:path}/end", "/a/b/end").as_deref(), Some("a/b"));
}

#[test]
fn braces_that_are_not_holes_are_literal() {
    assert_eq!(params("/a/{1x}", "/a/{1x}"), Some(vec![]));
    assert!(Pattern::parse("/a/{x:nope}").is_err());
    assert!(Pattern::parse("/a/{x}/{x}").is_err());
}

#[test]
fn table_first_match_in_order_and_literals_by_hash() {
    let t = RouteTable::new(["/echo", "/rooms/{id}", "/rooms/new", "/n/{id:int}"]).unwrap();
    assert!(t.has_patterns());
    assert_eq!(t.resolve("/echo").map(|r| r.0), Some(0));
    // "/rooms/new" is shadowed by the pattern before it, as in Starlette.
    assert_eq!(t.resolve("/rooms/new").map(|r| r.0), Some(1));
    assert_eq!(t.resolve("/n/7").map(|r| r.0), Some(3));
    assert!(!t.find("/n/x"));
    assert!(!t.find("/nope"));
    let lit = RouteTable::new(["/a", "/b"]).unwrap();
    assert!(!lit.has_patterns());
    assert!(lit.find("/b") && !lit.find("/c"));
}

#[test]
fn patterns_match_the_decoded_path() {
    let t = RouteTable::new(["/rooms/{id}", "/hello world"]).unwrap();
    let (i, ps) = t.resolve("/rooms/a%20b").unwrap();
    assert_eq!((i, ps[0].value.as_str()), (0, "a b"));
    assert_eq!(t.resolve("/hello%20world").map(|r| r.0), Some(1));
    let encoded = RouteTable::new(["/a%20b"]).unwrap();
    assert!(
        encoded.find("/a%20b"),
        "a literal route as sent still matches"
    );
    assert!(!t.find("/rooms/a%2Fb"), "a decoded / splits segments");
    assert_eq!(percent_decode("%zz%4"), "%zz%4");
}
