//! The vocabulary of the demo data set. Addresses, e-mail domains, phone numbers and IP
//! addresses are from reserved or example ranges so that nothing points at a real person.

pub const FIRST_NAMES: &[&str] = &[
    "Andre",
    "Keisha",
    "Marlon",
    "Shanice",
    "Devon",
    "Tamara",
    "Omar",
    "Natalie",
    "Rohan",
    "Camille",
    "Damion",
    "Alicia",
    "Kemar",
    "Renee",
    "Jerome",
    "Simone",
    "Anil",
    "Kavita",
    "Trevor",
    "Monique",
    "Winston",
    "Sasha",
    "Dwayne",
    "Latoya",
    "Vijay",
    "Nadia",
    "Curtis",
    "Janelle",
    "Ricardo",
    "Gabrielle",
    "Ravi",
    "Tricia",
    "Leon",
    "Patrice",
    "Marcus",
    "Donna",
];

pub const LAST_NAMES: &[&str] = &[
    "Campbell",
    "Williams",
    "Brown",
    "Thompson",
    "Ramdial",
    "Persaud",
    "Clarke",
    "Grant",
    "Singh",
    "Bailey",
    "Reid",
    "Joseph",
    "Charles",
    "Baptiste",
    "Mohammed",
    "Ali",
    "Forbes",
    "Henry",
    "Gordon",
    "Allen",
    "Rampersad",
    "Lewis",
    "Greenidge",
    "Knowles",
    "Rolle",
    "Francis",
    "Edwards",
    "Maharaj",
    "Spencer",
    "Walcott",
];

pub const COMPANIES: &[&str] = &[
    "Island Auto Parts Ltd",
    "Blue Mountain Traders",
    "Caribbean Pharma Distributors",
    "Sunrise Electronics",
    "Trini Hardware Supply",
    "Bajan Beauty Co",
    "Demerara Imports",
    "Nassau Marine Outfitters",
    "Coral Reef Boutique",
    "Spice Isle Foods",
    "Kingston Tech Hub",
    "Montego Medical Supplies",
];

/// Destinations: (warehouse id, code, name, city, country, phone prefix).
pub const WAREHOUSES: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "WH-MIA",
        "MIA",
        "Miami Consolidation Hub",
        "Miami",
        "US",
        "+1-305",
    ),
    (
        "WH-KIN",
        "KIN",
        "Kingston Distribution Centre",
        "Kingston",
        "JM",
        "+1-876",
    ),
    (
        "WH-POS",
        "POS",
        "Port of Spain Depot",
        "Port of Spain",
        "TT",
        "+1-868",
    ),
    (
        "WH-BGI",
        "BGI",
        "Bridgetown Depot",
        "Bridgetown",
        "BB",
        "+1-246",
    ),
    (
        "WH-GEO",
        "GEO",
        "Georgetown Warehouse",
        "Georgetown",
        "GY",
        "+592",
    ),
    ("WH-NAS", "NAS", "Nassau Depot", "Nassau", "BS", "+1-242"),
];

pub const STREETS: &[&str] = &[
    "Hope Road",
    "Constant Spring Road",
    "Frederick Street",
    "Ariapita Avenue",
    "Broad Street",
    "Bay Street",
    "Regent Street",
    "Main Street",
    "Church Street",
    "Harbour Street",
    "Independence Boulevard",
    "Camp Street",
];

pub const PACKAGE_DESCRIPTIONS: &[&str] = &[
    "Laptop computer",
    "Auto parts (brake pads)",
    "Clothing",
    "Mobile phones (2)",
    "Vitamins and supplements",
    "Kitchen appliances",
    "Books",
    "Tyres (4)",
    "Printer toner",
    "Cosmetics",
    "Baby stroller",
    "Power tools",
    "Television 55in",
    "Medical supplies",
    "Shoes",
    "Solar panel",
    "Marine engine parts",
    "Office chairs (2)",
];

pub const CARRIER_PREFIXES: &[&str] = &["1Z999AA1", "TBA3", "9400111", "7748"];

pub const PUBLIC_IPS: &[&str] = &[
    "203.0.113.14",
    "203.0.113.77",
    "198.51.100.23",
    "198.51.100.201",
    "192.0.2.44",
];

pub const CORRECTION_REASONS: &[&str] = &[
    "Customer disputed weight; package re-weighed at Miami hub",
    "Wrong rate applied (ocean billed as air)",
    "Goodwill credit approved by operations manager",
    "Duplicate handling fee removed",
];

pub const CONFIG_CHANGES: &[(&str, &str)] = &[
    (
        "rate_table.air.jm",
        "Air freight rate table for Jamaica updated",
    ),
    (
        "rate_table.ocean.tt",
        "Ocean freight rate table for Trinidad updated",
    ),
    ("notifications.sms", "SMS notification template changed"),
    (
        "integrations.customs_broker",
        "Customs broker API endpoint rotated",
    ),
    ("feature.self_service_returns", "Feature flag toggled"),
];
