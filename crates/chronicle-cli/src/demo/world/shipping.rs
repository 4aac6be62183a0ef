//! The working day on the shipping side: which action comes next, shipments and their
//! packages moving through the warehouses, cancellations, deletes and restores.

use super::*;

impl World {
    pub(super) fn step(&mut self) {
        const WEIGHTS: [u32; 16] = [22, 34, 8, 8, 2, 8, 6, 5, 2, 1, 1, 1, 1, 1, 3, 1];
        let done = match self.rng.weighted(&WEIGHTS) {
            0 => false,
            1 => self.advance_shipment(),
            2 => self.invoice_create(),
            3 => self.invoice_progress(),
            4 => self.invoice_correction(),
            5 => self.invoice_read(),
            6 => self.customer_edit(),
            7 => self.customer_signup(),
            8 => self.package_delete(),
            9 => self.package_restore(),
            10 => self.shipment_cancel(),
            11 => self.shipment_restore(),
            12 => self.setting_change(),
            13 => self.config_event(),
            14 => self.security_event(),
            _ => self.user_management(),
        };
        if !done {
            self.new_shipment();
        }
    }

    /// A live, active customer, found by a few random tries.
    pub(super) fn pick_customer(&mut self) -> Option<usize> {
        for _ in 0..16 {
            let i = self.rng.below(self.customers.ents.len());
            let e = &self.customers.ents[i];
            if e.live && e.data["status"] == "active" {
                return Some(i);
            }
        }
        None
    }

    pub(super) fn shipment_create(&mut self, customer: usize, service: &str) -> (usize, EntityOp) {
        let n = self.shipments.ents.len();
        let dest = 1 + self.rng.below(WAREHOUSES.len() - 1);
        let days = match service {
            "ocean" => self.rng.range(14, 28),
            "express" => self.rng.range(2, 4),
            _ => self.rng.range(4, 9),
        };
        let eta = chronicle_core::timefmt::format(self.clock + Duration::days(days));
        let data = json!({
            "tracking_number": format!("QCS{:09}", 240_000_000 + n * 7 + self.rng.below(7)),
            "customer_id": self.customers.ents[customer].id,
            "origin_warehouse_id": WAREHOUSES[0].0,
            "destination_warehouse_id": WAREHOUSES[dest].0,
            "service": service,
            "status": "pending",
            "weight_kg": 0.0,
            "declared_value": self.rng.money(40.0, 2_500.0),
            "eta": eta,
        });
        let (s, op) = self.create(T::Shipment, format!("SHP-{:06}", 100_001 + n), data);
        self.ship_info.push(ShipmentInfo {
            customer,
            packages: Vec::new(),
            invoiced: false,
        });
        self.open_shipments.push(s);
        (s, op)
    }

    pub(super) fn new_shipment(&mut self) {
        let Some(c) = self.pick_customer() else {
            return;
        };
        let who = *self.rng.pick(&[OPS, SUPPORT, SUPPORT, SUPPORT_REMOTE]);
        let correlation = self.correlation("shp");
        let service = *self.rng.pick(&["air", "air", "air", "ocean", "express"]);
        let (s, op) = self.shipment_create(c, service);
        self.single(who, None, Some(&correlation), op);
        let mut total = 0.0;
        for _ in 0..1 + self.rng.below(3) {
            self.tick_short();
            let weight = self.rng.money(0.5, 30.0);
            total += weight;
            let carrier = format!(
                "{}{}",
                self.rng.pick(CARRIER_PREFIXES),
                self.rng.range(10_000_000, 99_999_999)
            );
            let data = json!({
                "shipment_id": self.shipments.ents[s].id,
                "customer_id": self.customers.ents[c].id,
                "warehouse_id": WAREHOUSES[0].0,
                "description": self.rng.pick(PACKAGE_DESCRIPTIONS),
                "weight_kg": weight,
                "dimensions_cm": {"length": self.rng.range(10, 120), "width": self.rng.range(10, 80), "height": self.rng.range(5, 60)},
                "status": "expected",
                "carrier_tracking": carrier,
            });
            let n = self.packages.ents.len();
            let (p, op) = self.create(T::Package, format!("PKG-{:07}", 1_000_001 + n), data);
            self.ship_info[s].packages.push(p);
            self.single(who, None, Some(&correlation), op);
        }
        self.tick_short();
        let op = self.update(
            T::Shipment,
            s,
            json!({"weight_kg": (total * 100.0_f64).round() / 100.0}),
        );
        self.single(who, None, Some(&correlation), op);
    }

    pub(super) fn set_package_status(
        &mut self,
        s: usize,
        status: &str,
        who: usize,
        correlation: &str,
    ) {
        for p in self.ship_info[s].packages.clone() {
            if self.packages.ents[p].live && self.packages.ents[p].data["status"] != "damaged" {
                self.tick_short();
                let op = self.update(T::Package, p, json!({"status": status}));
                self.single(who, None, Some(correlation), op);
            }
        }
    }

    pub(super) fn advance_shipment(&mut self) -> bool {
        if self.open_shipments.is_empty() {
            return false;
        }
        let k = self.rng.below(self.open_shipments.len());
        let s = self.open_shipments[k];
        let status = self.str_field(&self.shipments, s, "status");
        let correlation = self.correlation("status");
        let (next, who, reason): (&str, usize, Option<&str>) = match status.as_str() {
            "in_transit" if self.rng.chance(0.12) => (
                "customs_hold",
                OPS,
                Some("Held by customs: commercial invoice missing"),
            ),
            "customs_hold" => (
                "arrived",
                OPS,
                Some("Customs cleared after documents were supplied"),
            ),
            s => {
                let i = FLOW.iter().position(|f| *f == s).unwrap_or(0);
                let next = FLOW[(i + 1).min(FLOW.len() - 1)];
                let who = match next {
                    "received" | "in_transit" => WAREHOUSE,
                    "delivered" => SUPPORT_REMOTE,
                    _ => OPS,
                };
                (next, who, None)
            }
        };
        let op = self.update(T::Shipment, s, json!({"status": next}));
        self.single(who, reason, Some(&correlation), op);
        match next {
            "received" => {
                if self.rng.chance(0.05) {
                    // A damaged package, recorded with the receiving.
                    if let Some(&p) = self.ship_info[s].packages.first()
                        && self.packages.ents[p].live
                    {
                        self.tick_short();
                        let op = self.update(T::Package, p, json!({"status": "damaged"}));
                        self.single(
                            WAREHOUSE,
                            Some("Box crushed on arrival; photos attached to ticket"),
                            Some(&correlation),
                            op,
                        );
                    }
                }
                self.set_package_status(s, "received", WAREHOUSE, &correlation);
                self.uninvoiced.push(s);
            }
            "in_transit" => self.set_package_status(s, "shipped", WAREHOUSE, &correlation),
            "delivered" => {
                self.set_package_status(s, "delivered", SUPPORT_REMOTE, &correlation);
                self.open_shipments.swap_remove(k);
            }
            _ => {}
        }
        true
    }
}
