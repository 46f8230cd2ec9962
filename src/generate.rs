//! Realistic JSON-lines logs for demos, tests and benchmarks: several
//! services and hosts, uneven levels, UTF-8 messages in several scripts,
//! optional error bursts and Java-style stack traces.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::event::timestamp::{civil_from_days, EpochMillis};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    pub services: Vec<String>,
    pub seed: u64,
    /// Time of the first event.
    pub start_ms: EpochMillis,
    /// Mean spacing between events.
    pub step_ms: f64,
    /// Periods where one service logs mostly errors.
    pub error_bursts: bool,
    /// Attach stack traces to some errors.
    pub stack_traces: bool,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            services: vec!["app1".into(), "app2".into(), "app3".into()],
            seed: 42,
            start_ms: crate::event::now_ms(),
            step_ms: 100.0,
            error_bursts: false,
            stack_traces: false,
        }
    }
}

/// A stream of generated records.
pub struct Generator {
    opts: GenOptions,
    rng: StdRng,
    t: f64,
    burst_left: u32,
    burst_service: usize,
}

const USERS: &[&str] = &[
    "alice", "bob", "chen", "dmitri", "eleni", "fatima", "göran", "hiro",
];
const PATHS: &[&str] = &[
    "/api/v1/users",
    "/api/v1/orders",
    "/api/v1/cart",
    "/health",
    "/api/v1/search",
    "/login",
];

/// `yyyy-MM-dd HH:mm:ss` in UTC, as the classic scripts write it.
pub fn format_ts(ms: EpochMillis) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000) / 1000;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

impl Generator {
    pub fn new(opts: GenOptions) -> Generator {
        let rng = StdRng::seed_from_u64(opts.seed);
        let t = opts.start_ms as f64;
        Generator {
            opts,
            rng,
            t,
            burst_left: 0,
            burst_service: 0,
        }
    }

    fn pick<'a>(&mut self, xs: &'a [&'a str]) -> &'a str {
        xs[self.rng.random_range(0..xs.len())]
    }

    /// The next record (as a JSON object).
    pub fn next_record(&mut self) -> Value {
        let ms = self.t as i64;
        self.t += self.opts.step_ms * (0.5 + self.rng.random::<f64>());
        let n_services = self.opts.services.len().max(1);
        let mut si = self.rng.random_range(0..n_services);
        if self.opts.error_bursts && self.burst_left == 0 && self.rng.random_ratio(1, 2000) {
            self.burst_left = 200;
            self.burst_service = self.rng.random_range(0..n_services);
        }
        let in_burst = self.burst_left > 0;
        if in_burst {
            self.burst_left -= 1;
            if self.rng.random_ratio(1, 2) {
                si = self.burst_service;
            }
        }
        let service = self
            .opts
            .services
            .get(si)
            .cloned()
            .unwrap_or_else(|| "app".into());
        let roll: u32 = self.rng.random_range(0..100);
        let level = if in_burst && si == self.burst_service && roll < 60 {
            "ERROR"
        } else {
            match roll {
                0..=54 => "INFO",
                55..=79 => "DEBUG",
                80..=93 => "WARN",
                _ => "ERROR",
            }
        };
        let id: u32 = self.rng.random_range(1000..99999);
        let latency: u32 = match level {
            "ERROR" => self.rng.random_range(200..5000),
            "WARN" => self.rng.random_range(100..2000),
            _ => self.rng.random_range(1..300),
        };
        let user = self.pick(USERS);
        let path = self.pick(PATHS);
        let msg = match (level, self.rng.random_range(0..5u32)) {
            ("INFO", 0) => format!("GET {path}/{id} 200 {latency}ms"),
            ("INFO", 1) => format!("user {user} logged in"),
            ("INFO", 2) => format!("Пользователь {user} оформил заказ {id}"),
            ("INFO", 3) => format!("订单 {id} 已创建"),
            ("INFO", _) => format!("Η παραγγελία {id} ολοκληρώθηκε σε {latency}ms"),
            ("DEBUG", 0) => format!("cache lookup key=user:{id} hit=true"),
            ("DEBUG", 1) => format!("payload size {} bytes", latency * 17),
            ("DEBUG", 2) => format!("注文 {id} のキャッシュを更新しました"),
            ("DEBUG", _) => format!("opened connection {id} to postgres"),
            ("WARN", 0) => {
                format!("slow query took {latency}ms: SELECT * FROM orders WHERE id = {id}")
            }
            ("WARN", 1) => format!("retrying request to payments (attempt {}/5)", 1 + id % 5),
            ("WARN", 2) => format!("Медленный ответ от сервиса оплаты: {latency} мс"),
            ("WARN", _) => format!("disk usage at {}% on /var/lib/data", 80 + id % 20),
            ("ERROR", 0) => "connection reset by peer while talking to payments".to_string(),
            ("ERROR", 1) => format!("failed to process order {id}: timeout after {latency}ms"),
            ("ERROR", 2) => format!("数据库连接失败: 订单 {id} 🔥"),
            ("ERROR", 3) => "database error: deadlock detected".to_string(),
            _ => format!("NullPointerException in OrderService.process for order {id}"),
        };
        let status = match level {
            "ERROR" => 500 + (id % 4) as u16,
            "WARN" => 429,
            _ => 200,
        };
        let mut rec = json!({
            "timestamp": format_ts(ms),
            "level": level,
            "message": msg,
            "service": service,
            "host": format!("node-{}", 1 + id % 4),
            "latency_ms": latency,
            "status": status,
        });
        if level == "ERROR" && self.opts.stack_traces && self.rng.random_ratio(1, 3) {
            rec["stack_trace"] = json!(format!(
                "java.lang.NullPointerException: order {id} has no customer\n\tat com.example.orders.OrderService.process(OrderService.java:{})\n\tat com.example.orders.OrderController.submit(OrderController.java:88)\n\tat java.base/java.lang.Thread.run(Thread.java:833)",
                40 + id % 50
            ));
        }
        rec
    }

    /// The next record as one JSON line (without newline).
    pub fn next_line(&mut self) -> String {
        self.next_record().to_string()
    }
}
