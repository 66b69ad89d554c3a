//! Command line: `loadgen SCENARIO --port P [options]`. Hand-parsed to keep
//! the dependency tree (and the build the other engineers wait on) small.

pub const USAGE: &str = "usage: loadgen SCENARIO --port PORT [--host 127.0.0.1] [--path /]
       [--warmup SECS] [--duration SECS] [--server-pid PID]
       [--connections N] [--inflight N] [--size BYTES] [--hold SECS]
       [--spread-port PORT]
scenarios: rtt-1 rtt-100 stream-64k stream-1m connect broadcast broadcast-10k
           broadcast-stalled idle";

pub struct Args {
    pub scenario: String,
    pub host: String,
    pub port: u16,
    pub path: Option<String>,
    pub warmup: f64,
    pub duration: f64,
    pub server_pid: Option<u32>,
    /// Scenario-specific count: connections (rtt, idle), workers (connect),
    /// receivers (broadcast). `None` means the scenario's default.
    pub connections: Option<usize>,
    pub inflight: Option<usize>,
    pub size: Option<usize>,
    /// idle: seconds to hold the connections after "ready" unless stdin
    /// closes or gets a line first.
    pub hold: f64,
    /// broadcast: a second server (sharing topics with the first through a
    /// broker) that takes every other receiver; the sender stays on `port`.
    pub spread_port: Option<u16>,
}

impl Args {
    pub fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut a = Args {
            scenario: String::new(),
            host: "127.0.0.1".into(),
            port: 0,
            path: None,
            warmup: 1.0,
            duration: 5.0,
            server_pid: None,
            connections: None,
            inflight: None,
            size: None,
            hold: 600.0,
            spread_port: None,
        };
        while let Some(arg) = it.next() {
            let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
            match arg.as_str() {
                "--scenario" => a.scenario = val("--scenario")?,
                "--host" => a.host = val("--host")?,
                "--port" => a.port = num(&val("--port")?)?,
                "--path" => a.path = Some(val("--path")?),
                "--warmup" => a.warmup = num(&val("--warmup")?)?,
                "--duration" => a.duration = num(&val("--duration")?)?,
                "--server-pid" => a.server_pid = Some(num(&val("--server-pid")?)?),
                "--connections" => a.connections = Some(num(&val("--connections")?)?),
                "--inflight" => a.inflight = Some(num(&val("--inflight")?)?),
                "--size" => a.size = Some(num(&val("--size")?)?),
                "--hold" => a.hold = num(&val("--hold")?)?,
                "--spread-port" => a.spread_port = Some(num(&val("--spread-port")?)?),
                "-h" | "--help" => return Err("help".into()),
                s if !s.starts_with('-') && a.scenario.is_empty() => a.scenario = s.into(),
                s => return Err(format!("unknown argument {s}")),
            }
        }
        if a.scenario.is_empty() {
            return Err("no scenario".into());
        }
        if a.port == 0 {
            return Err("--port is required".into());
        }
        Ok(a)
    }

    pub fn path_or(&self, default: &str) -> String {
        self.path.clone().unwrap_or_else(|| default.to_string())
    }
}

fn num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("not a number: {s}"))
}
