//! The incident the demo plants for the dashboard's walk-through: on the last night, the
//! super admin applies a new rate card in one bulk operation at 2 a.m. and types the rates in
//! cents where the field holds dollars (every freight rate a hundred times too high); half an
//! hour later the nightly billing job recalculates the open invoices with them. Two alert
//! rules, set up on day zero, fire on it. Rolling back the bulk (cascade, since the invoices
//! were recalculated after it) or the recalculation's correlation restores the state.

use super::{SCHEDULER, SUPER, T, World};
use chronicle_core::write::EntityOp;
use chronicle_store::WriteKind;
use serde_json::json;
use time::Time;

/// Correlation ids of the incident start with this (the loader notes where it begins).
pub const INCIDENT_PREFIX: &str = "ratecard";

/// The freight rates the mistaken rate card changed.
const RATES: [&str; 3] = [
    "air_rate_per_kg",
    "ocean_rate_per_kg",
    "express_rate_per_kg",
];

/// How many open invoices the billing job recalculates.
const RECALCULATED: usize = 6;

impl World {
    /// Alert rules, as `_alert_rule` records (the form `POST /v1/alerts/rules` writes), so
    /// they stand before anything they watch.
    pub(super) fn alert_rules(&mut self) {
        let rules = [
            (
                "01900000-0000-7000-8000-0000000a1e01",
                "Rates changed in bulk",
                json!({"entity_type": "setting", "operation": "update"}),
                json!({"count": 3, "window_secs": 600, "per_actor": false}),
                "critical",
            ),
            (
                "01900000-0000-7000-8000-0000000a1e02",
                "Invoice amounts recalculated en masse",
                json!({"entity_type": "invoice", "field": "/amount"}),
                json!({"count": 4, "window_secs": 1800, "per_actor": false}),
                "error",
            ),
        ];
        for (id, name, filter, threshold, severity) in rules {
            let mut context = self.ctx(SUPER, Some("Alerting for the billing controls"), None);
            let data = json!({
                "id": id, "name": name, "filter": filter, "threshold": threshold,
                "severity": severity, "webhook_url": null,
                "created_at": chronicle_core::timefmt::format(self.clock),
                "created_by": context.actor.clone(),
            });
            context.system = true;
            let op = EntityOp::Create {
                entity_type: "_alert_rule".to_owned(),
                id: Some(id.to_owned()),
                data,
            };
            self.out.push(chronicle_store::WriteRequest {
                context,
                kind: WriteKind::Single(op),
            });
            self.tick_short();
        }
    }

    /// The mistaken rate card at 2 a.m. after the last working day, then the recalculation.
    pub(super) fn incident(&mut self) {
        let date = self
            .clock
            .date()
            .next_day()
            .expect("demo dates are far from the end of time");
        self.clock = date
            .with_time(Time::from_hms(2, 7, 13).expect("valid time"))
            .assume_utc();
        let correlation = format!("{INCIDENT_PREFIX}-2027-{}", self.rng.hex(6));
        let mut ops = Vec::new();
        for key in RATES {
            let Some(i) = self.settings.ents.iter().position(|e| e.id == key) else {
                continue;
            };
            let dollars = self.settings.ents[i].data["value"].as_f64().unwrap_or(1.0);
            // Cents typed into a field that holds dollars.
            let cents = (dollars * 100.0).round();
            ops.push(self.update(T::Setting, i, json!({"value": cents})));
        }
        self.push(
            SUPER,
            Some("2027 rate card"),
            Some(&correlation),
            WriteKind::Bulk { ops, atomic: true },
        );
        self.clock += time::Duration::minutes(23);
        let recalc = format!("{INCIDENT_PREFIX}-recalc-{}", self.rng.hex(6));
        let open: Vec<usize> = self
            .open_invoices
            .iter()
            .copied()
            .filter(|&i| self.invoices.ents[i].live)
            .take(RECALCULATED)
            .collect();
        for i in open {
            self.tick_short();
            let amount = self.invoices.ents[i].data["amount"].as_f64().unwrap_or(0.0);
            let inflated = (amount * 100.0 * 100.0).round() / 100.0;
            let op = self.update(T::Invoice, i, json!({"amount": inflated}));
            self.single(
                SCHEDULER,
                Some("Nightly recalculation with the current rate card"),
                Some(&recalc),
                op,
            );
        }
    }
}
