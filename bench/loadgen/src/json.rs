//! The one-line JSON result, built by hand: a flat object of numbers and
//! strings does not need serde.

pub struct Obj(String);

impl Obj {
    pub fn new() -> Obj {
        Obj(String::from("{"))
    }
    fn key(&mut self, k: &str) {
        if self.0.len() > 1 {
            self.0.push_str(", ");
        }
        self.0.push('"');
        self.0.push_str(k);
        self.0.push_str("\": ");
    }
    pub fn str(mut self, k: &str, v: &str) -> Obj {
        self.key(k);
        self.0.push('"');
        for c in v.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                c if (c as u32) < 0x20 => self.0.push_str(&format!("\\u{:04x}", c as u32)),
                c => self.0.push(c),
            }
        }
        self.0.push('"');
        self
    }
    pub fn int(mut self, k: &str, v: u64) -> Obj {
        self.key(k);
        self.0.push_str(&v.to_string());
        self
    }
    pub fn num(mut self, k: &str, v: f64) -> Obj {
        self.key(k);
        if v.is_finite() {
            self.0.push_str(&format!("{v:.6}"));
        } else {
            self.0.push_str("null");
        }
        self
    }
    pub fn opt(self, k: &str, v: Option<f64>) -> Obj {
        match v {
            Some(v) => self.num(k, v),
            None => {
                let mut o = self;
                o.key(k);
                o.0.push_str("null");
                o
            }
        }
    }
    pub fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}
