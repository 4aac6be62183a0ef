//! When a rollback needs approval. Configured in `chronicle.toml` under `[approval]`.

use chronicle_core::Impact;
use chronicle_core::diff;
use chronicle_core::rollback::Plan;
use chronicle_core::schema::Schema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalPolicy {
    /// A plan touching more entities than this needs approval.
    pub max_entities: Option<usize>,
    /// A plan touching any of these entity types needs approval.
    pub entity_types: Vec<String>,
    /// A plan changing any field of at least this business impact needs approval.
    pub impact: Option<Impact>,
    /// Approvals needed (from role `approver`, never the requester).
    pub approvals: u32,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        ApprovalPolicy {
            max_entities: None,
            entity_types: Vec::new(),
            impact: None,
            approvals: 1,
        }
    }
}

impl ApprovalPolicy {
    /// Approvals the plan needs: 0, or `approvals` when any threshold is crossed. Returns the
    /// reasons too, for the record.
    pub fn required(&self, plan: &Plan, schema: &Schema) -> (u32, Vec<String>) {
        let mut reasons = Vec::new();
        if let Some(max) = self.max_entities
            && plan.operations.len() > max
        {
            reasons.push(format!(
                "touches {} entities (more than {max})",
                plan.operations.len()
            ));
        }
        for op in &plan.operations {
            if self.entity_types.contains(&op.entity_type) {
                reasons.push(format!("touches entity type {}", op.entity_type));
                break;
            }
        }
        if let Some(threshold) = self.impact {
            let worst = plan
                .operations
                .iter()
                .flat_map(|op| {
                    let changes = diff::diff(op.before.as_ref(), op.after.as_ref());
                    let mut impacts: Vec<Impact> = changes
                        .iter()
                        .map(|c| schema.impact(&op.entity_type, &c.path))
                        .collect();
                    impacts.push(schema.type_impact(&op.entity_type));
                    impacts
                })
                .max();
            if let Some(w) = worst.filter(|w| *w >= threshold) {
                reasons.push(
                    format!("changes fields of {w:?} impact (threshold {threshold:?})")
                        .to_lowercase(),
                );
            }
        }
        if reasons.is_empty() {
            (0, reasons)
        } else {
            (self.approvals.max(1), reasons)
        }
    }
}
