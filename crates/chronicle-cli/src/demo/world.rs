//! The demo generator: a simulated fortnight at a cargo company's admin dashboard, produced as
//! a list of write requests. The generator keeps its own model of every entity so that each
//! request is valid against the state the earlier ones leave behind (a restore carries the
//! data the entity had, an update never targets a deleted entity).

use super::names::*;
use super::rng::Rng;
use chronicle_core::entity::merge_patch;
use chronicle_core::entry::{Actor, Operation, RequestContext, Severity};
use chronicle_core::write::{EntityOp, EventInput};
use chronicle_store::{WriteKind, WriteRequest};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime, Time};

mod incident;
mod office;
mod setup;
mod shipping;

/// Simulated days of activity.
pub const DAYS: i64 = 14;
pub use incident::INCIDENT_PREFIX;
/// Working hours each day: the clock jumps from the end to the next morning.
const DAY_START_HOUR: u8 = 7;
const DAY_END_HOUR: u8 = 20;
const SEED: u64 = 0x0C4A_A60C_2026;

/// Someone who acts in the demo: a dashboard account and the machine it works from.
struct Admin {
    id: &'static str,
    name: &'static str,
    email: Option<&'static str>,
    role: &'static str,
    ip: Option<&'static str>,
    user_agent: &'static str,
}

const CHROME_WIN: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const FIREFOX_MAC: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.6; rv:132.0) Gecko/20100101 Firefox/132.0";
const SAFARI_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15";
const EDGE_WIN: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
const CHROME_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";
const TABLET: &str = "Mozilla/5.0 (Linux; Android 14; SM-X210) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

const SUPER: usize = 0;
const OPS: usize = 1;
const BILLING: usize = 2;
const SUPPORT: usize = 3;
const SUPPORT_REMOTE: usize = 4;
const WAREHOUSE: usize = 5;
const IMPORTER: usize = 6;
const SCHEDULER: usize = 7;

const ADMINS: [Admin; 8] = [
    Admin {
        id: "USR-001",
        name: "Maria Santos",
        email: Some("maria.santos@qcscargo.example"),
        role: "super_admin",
        ip: Some("10.20.1.15"),
        user_agent: CHROME_WIN,
    },
    Admin {
        id: "USR-002",
        name: "James Okafor",
        email: Some("james.okafor@qcscargo.example"),
        role: "operations_manager",
        ip: Some("10.20.3.42"),
        user_agent: FIREFOX_MAC,
    },
    Admin {
        id: "USR-003",
        name: "Li Wei",
        email: Some("li.wei@qcscargo.example"),
        role: "billing_admin",
        ip: Some("10.20.5.77"),
        user_agent: SAFARI_MAC,
    },
    Admin {
        id: "USR-004",
        name: "Priya Nair",
        email: Some("priya.nair@qcscargo.example"),
        role: "support_agent",
        ip: Some("172.16.4.9"),
        user_agent: EDGE_WIN,
    },
    Admin {
        id: "USR-005",
        name: "Kevin Baptiste",
        email: Some("kevin.baptiste@qcscargo.example"),
        role: "support_agent",
        ip: Some("198.51.100.87"),
        user_agent: CHROME_LINUX,
    },
    Admin {
        id: "USR-006",
        name: "Ahmed Hassan",
        email: Some("ahmed.hassan@qcscargo.example"),
        role: "warehouse_supervisor",
        ip: Some("10.20.8.3"),
        user_agent: TABLET,
    },
    Admin {
        id: "USR-SVC-IMPORT",
        name: "Legacy CRM importer",
        email: None,
        role: "service",
        ip: Some("10.0.0.5"),
        user_agent: "qcs-legacy-import/2.3.1",
    },
    Admin {
        id: "system",
        name: "Scheduler",
        email: None,
        role: "system",
        ip: None,
        user_agent: "qcs-scheduler/1.4.0",
    },
];

/// Shipment statuses in the order a shipment normally goes through them.
const FLOW: [&str; 6] = [
    "pending",
    "received",
    "in_transit",
    "arrived",
    "out_for_delivery",
    "delivered",
];

/// One entity as the generator believes the store holds it.
struct Ent {
    id: String,
    data: Value,
    live: bool,
}

#[derive(Default)]
struct Table {
    ty: &'static str,
    ents: Vec<Ent>,
}

struct ShipmentInfo {
    customer: usize,
    packages: Vec<usize>,
    invoiced: bool,
}

/// Sizes derived from `--scale`.
struct Sizes {
    customers: usize,
    imported: usize,
    steps: usize,
}

impl Sizes {
    fn of(scale: f64) -> Sizes {
        let n = |base: f64, min: usize| ((base * scale).round() as usize).max(min);
        let customers = n(300.0, 8);
        Sizes {
            customers,
            imported: (customers * 3 / 5).max(4),
            steps: n(2600.0, 40),
        }
    }
}

pub struct World {
    rng: Rng,
    clock: OffsetDateTime,
    mean_gap: f64,
    day: i64,
    sessions: Vec<String>,
    sizes: Sizes,
    out: Vec<WriteRequest>,
    customers: Table,
    shipments: Table,
    ship_info: Vec<ShipmentInfo>,
    packages: Table,
    invoices: Table,
    warehouses: Table,
    users: Table,
    settings: Table,
    open_shipments: Vec<usize>,
    uninvoiced: Vec<usize>,
    open_invoices: Vec<usize>,
    deleted_packages: Vec<usize>,
    deleted_shipments: Vec<usize>,
    corr_seq: u64,
}

/// The whole demo as write requests, oldest first, starting the morning of `start`'s day.
pub fn generate(scale: f64, start: OffsetDateTime) -> Vec<WriteRequest> {
    let sizes = Sizes::of(scale);
    let working_seconds = (DAYS * i64::from(DAY_END_HOUR - DAY_START_HOUR) * 3600) as f64;
    let mut w = World {
        rng: Rng::new(SEED),
        clock: start.replace_time(Time::from_hms(DAY_START_HOUR, 0, 0).expect("valid time")),
        // The steps inside one action take time too (about a sixth of the total).
        mean_gap: working_seconds / sizes.steps as f64 * 0.85,
        day: 0,
        sessions: Vec::new(),
        sizes,
        out: Vec::new(),
        customers: Table {
            ty: "customer",
            ..Table::default()
        },
        shipments: Table {
            ty: "shipment",
            ..Table::default()
        },
        ship_info: Vec::new(),
        packages: Table {
            ty: "package",
            ..Table::default()
        },
        invoices: Table {
            ty: "invoice",
            ..Table::default()
        },
        warehouses: Table {
            ty: "warehouse",
            ..Table::default()
        },
        users: Table {
            ty: "user",
            ..Table::default()
        },
        settings: Table {
            ty: "setting",
            ..Table::default()
        },
        open_shipments: Vec::new(),
        uninvoiced: Vec::new(),
        open_invoices: Vec::new(),
        deleted_packages: Vec::new(),
        deleted_shipments: Vec::new(),
        corr_seq: 0,
    };
    w.new_sessions();
    w.setup();
    w.alert_rules();
    w.bulk_import();
    w.tick();
    w.onboarding_transaction();
    for _ in 0..w.sizes.steps {
        w.tick();
        w.step();
    }
    w.incident();
    w.out
}

/// Which table an entity operation goes to.
#[derive(Clone, Copy)]
enum T {
    Customer,
    Shipment,
    Package,
    Invoice,
    Warehouse,
    User,
    Setting,
}

impl World {
    fn table(&mut self, t: T) -> &mut Table {
        match t {
            T::Customer => &mut self.customers,
            T::Shipment => &mut self.shipments,
            T::Package => &mut self.packages,
            T::Invoice => &mut self.invoices,
            T::Warehouse => &mut self.warehouses,
            T::User => &mut self.users,
            T::Setting => &mut self.settings,
        }
    }

    // ----------------------------------------------------------------------------- time

    /// The gap between two independent actions: exponential around the mean, so activity
    /// comes in bursts like real traffic.
    fn tick(&mut self) {
        let gap = -(1.0 - self.rng.unit()).ln() * self.mean_gap;
        self.advance(gap.min(self.mean_gap * 8.0));
    }

    /// The gap between the steps of one action (a shipment and its packages).
    fn tick_short(&mut self) {
        let gap = self.rng.range(2, 45) as f64;
        self.advance(gap);
    }

    fn advance(&mut self, seconds: f64) {
        self.clock += Duration::seconds_f64(seconds.max(0.001));
        if self.clock.hour() >= DAY_END_HOUR {
            self.next_day();
        }
    }

    /// Night: the scheduler's jobs, then the next working morning with new sessions.
    fn next_day(&mut self) {
        let date = self
            .clock
            .date()
            .next_day()
            .expect("demo dates are far from the end of time");
        let night = Time::from_hms(2, self.rng.below(50) as u8, self.rng.below(60) as u8)
            .expect("valid time");
        self.clock = date.with_time(night).assume_utc();
        self.day += 1;
        self.nightly();
        let morning =
            Time::from_hms(DAY_START_HOUR, self.rng.below(40) as u8, 0).expect("valid time");
        self.clock = date.with_time(morning).assume_utc();
        self.new_sessions();
    }

    fn new_sessions(&mut self) {
        self.sessions = (0..ADMINS.len())
            .map(|_| format!("sess_{}", self.rng.hex(24)))
            .collect();
    }

    // ----------------------------------------------------------------------------- emitting

    fn ctx(&self, who: usize, reason: Option<&str>, correlation: Option<&str>) -> RequestContext {
        let a = &ADMINS[who];
        RequestContext {
            actor: Actor {
                via: None,
                id: Some(a.id.to_owned()),
                email: a.email.map(str::to_owned),
                role: Some(a.role.to_owned()),
            },
            session_id: if who == SCHEDULER {
                None
            } else {
                Some(self.sessions[who].clone())
            },
            ip: a.ip.map(str::to_owned),
            user_agent: Some(a.user_agent.to_owned()),
            reason: reason.map(str::to_owned),
            correlation_id: correlation.map(str::to_owned),
            rollback_id: None,
            at: Some(self.clock),
            system: false,
            op_metadata: Vec::new(),
        }
    }

    fn correlation(&mut self, prefix: &str) -> String {
        self.corr_seq += 1;
        format!("{prefix}-{:05}-{}", self.corr_seq, self.rng.hex(8))
    }

    fn push(
        &mut self,
        who: usize,
        reason: Option<&str>,
        correlation: Option<&str>,
        kind: WriteKind,
    ) {
        let context = self.ctx(who, reason, correlation);
        self.out.push(WriteRequest { context, kind });
    }

    fn single(
        &mut self,
        who: usize,
        reason: Option<&str>,
        correlation: Option<&str>,
        op: EntityOp,
    ) {
        self.push(who, reason, correlation, WriteKind::Single(op));
    }

    fn event(&mut self, who: usize, reason: Option<&str>, event: EventInput) {
        self.push(who, reason, None, WriteKind::Event(event));
    }

    // ----------------------------------------------------------------------------- the model

    fn create(&mut self, t: T, id: String, data: Value) -> (usize, EntityOp) {
        let table = self.table(t);
        let op = EntityOp::Create {
            entity_type: table.ty.to_owned(),
            id: Some(id.clone()),
            data: data.clone(),
        };
        table.ents.push(Ent {
            id,
            data,
            live: true,
        });
        (table.ents.len() - 1, op)
    }

    fn update(&mut self, t: T, i: usize, patch: Value) -> EntityOp {
        let table = self.table(t);
        let e = &mut table.ents[i];
        debug_assert!(e.live, "the generator updates only live entities");
        merge_patch(&mut e.data, &patch);
        EntityOp::Update {
            entity_type: table.ty.to_owned(),
            id: e.id.clone(),
            patch,
            expected_version: None,
        }
    }

    fn delete(&mut self, t: T, i: usize) -> EntityOp {
        let table = self.table(t);
        let e = &mut table.ents[i];
        e.live = false;
        EntityOp::Delete {
            entity_type: table.ty.to_owned(),
            id: e.id.clone(),
            expected_version: None,
        }
    }

    fn restore(&mut self, t: T, i: usize) -> EntityOp {
        let table = self.table(t);
        let e = &mut table.ents[i];
        e.live = true;
        EntityOp::Restore {
            entity_type: table.ty.to_owned(),
            id: e.id.clone(),
            data: e.data.clone(),
            expected_version: None,
        }
    }

    fn str_field(&self, t: &Table, i: usize, field: &str) -> String {
        t.ents[i]
            .data
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    fn setting_value(&self, key: &str) -> Value {
        self.settings
            .ents
            .iter()
            .find(|e| e.id == key)
            .map(|e| e.data["value"].clone())
            .unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chronicle_core::timefmt;

    fn start() -> OffsetDateTime {
        timefmt::parse("2026-03-01T00:00:00Z").unwrap()
    }

    #[test]
    fn the_demo_is_deterministic() {
        let a = generate(0.1, start());
        let b = generate(0.1, start());
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }

    #[test]
    fn time_only_moves_forward_and_spans_the_fortnight() {
        let reqs = generate(1.0, start());
        let times: Vec<OffsetDateTime> = reqs.iter().map(|r| r.context.at.unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        let days = (*times.last().unwrap() - times[0]).whole_days();
        assert!((DAYS - 3..=DAYS + 3).contains(&days), "spans {days} days");
    }

    #[test]
    fn the_demo_has_the_bulk_import_the_mistaken_rate_card_and_one_transaction() {
        let reqs = generate(1.0, start());
        let bulks = reqs
            .iter()
            .filter(|r| matches!(r.kind, WriteKind::Bulk { .. }))
            .count();
        let txns = reqs
            .iter()
            .filter(|r| matches!(r.kind, WriteKind::Transaction { .. }))
            .count();
        // The customer import, and the 2 a.m. rate card of the planted incident.
        assert_eq!((bulks, txns), (2, 1));
        let incident: Vec<_> = reqs
            .iter()
            .filter(|r| {
                r.context
                    .correlation_id
                    .as_deref()
                    .is_some_and(|c| c.starts_with(INCIDENT_PREFIX))
            })
            .collect();
        assert!(matches!(incident[0].kind, WriteKind::Bulk { .. }));
        let at = incident[0].context.at.expect("backdated");
        assert_eq!((at.hour(), at.minute()), (2, 7));
        assert!(incident.len() > 1, "invoices were recalculated after it");
        assert!(reqs.len() > 3_000, "{} requests", reqs.len());
    }
}
