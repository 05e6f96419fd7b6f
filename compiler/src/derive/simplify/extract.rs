//! Extraction that counts shared subterms once: for each e-class, the e-node
//! whose expression, as a DAG, is cheapest to evaluate (the greedy DAG
//! extraction of extraction-gym, here over sets of classes).
//!
//! egg's own [`egg::Extractor`] minimises the cost of the expression as a tree,
//! so a subterm used twice counts twice; a derivative shares many subterms
//! (`t` in `1 - t * t`, the gate values), so counting them once picks better
//! forms. Each class's cost is the sum of the own costs of the distinct classes
//! its chosen expression uses; passes over the classes repeat until no choice
//! improves (or a pass limit).

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use egg::{EGraph, Id, Language};

use super::cost::own_cost;
use super::language::{ConstantFold, Term};

/// The most passes over the e-classes.
const MAX_PASSES: usize = 32;

struct Choice {
    /// The classes the expression uses, with their own costs (zero-cost leaves
    /// left out).
    uses: Rc<BTreeMap<Id, u64>>,
    total: u64,
    node: Term,
}

/// The chosen e-node of every e-class that has a finite expression.
pub(crate) struct DagExtraction {
    choices: HashMap<Id, Choice>,
}

impl DagExtraction {
    /// Chooses an e-node for every class of `egraph`.
    pub(crate) fn new(egraph: &EGraph<Term, ConstantFold>) -> Self {
        let mut choices: HashMap<Id, Choice> = HashMap::new();
        for _ in 0..MAX_PASSES {
            let mut changed = false;
            for class in egraph.classes() {
                let id = egraph.find(class.id);
                for node in &class.nodes {
                    let Some(candidate) = candidate(egraph, &choices, id, node) else { continue };
                    if choices.get(&id).is_none_or(|best| candidate.total < best.total) {
                        choices.insert(id, candidate);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        DagExtraction { choices }
    }

    /// The chosen e-node of `class`.
    pub(crate) fn node(&self, egraph: &EGraph<Term, ConstantFold>, class: Id) -> Option<&Term> {
        self.choices.get(&egraph.find(class)).map(|choice| &choice.node)
    }
}

/// The choice of `node` for class `id`, if all its children have a choice that
/// does not use `id` itself.
fn candidate(
    egraph: &EGraph<Term, ConstantFold>,
    choices: &HashMap<Id, Choice>,
    id: Id,
    node: &Term,
) -> Option<Choice> {
    let own = own_cost(node);
    let mut uses: Option<Rc<BTreeMap<Id, u64>>> = None;
    for &child in node.children() {
        let child = choices.get(&egraph.find(child))?;
        if child.uses.contains_key(&id) {
            return None;
        }
        uses = Some(match uses {
            None => Rc::clone(&child.uses),
            Some(so_far) if so_far.len() >= child.uses.len() => merge(so_far, &child.uses),
            Some(so_far) => merge(Rc::clone(&child.uses), &so_far),
        });
    }
    let mut uses = uses.unwrap_or_default();
    if own > 0 {
        Rc::make_mut(&mut uses).insert(id, own);
    }
    let total = uses.values().fold(0u64, |sum, &cost| sum.saturating_add(cost));
    Some(Choice { uses, total, node: node.clone() })
}

fn merge(mut into: Rc<BTreeMap<Id, u64>>, from: &BTreeMap<Id, u64>) -> Rc<BTreeMap<Id, u64>> {
    if from.keys().any(|key| !into.contains_key(key)) {
        let map = Rc::make_mut(&mut into);
        for (&key, &cost) in from {
            map.insert(key, cost);
        }
    }
    into
}
