//! The deterministic tenant generator: `--users N --seed S` always gives the same people,
//! groups, mailboxes and contacts. People come from several countries (umlauts, accents,
//! apostrophes, right-to-left and CJK names, each with `usageLocation` and `country`), and
//! their contacts carry the whole range of phone formats users really type.

use crate::model::{
    App, AppSecret, AssignedLicense, AutomaticReplies, CalendarBlock, Contact, ContactFolder,
    EmailAddress, Group, MailboxData, MailboxKind, OrgContact, Phone, Photo, PhysicalOfficeAddress,
    PresenceSession, PresenceState, User,
};
use crate::tenant_file::{GroupRecord, TenantFile, UserRecord, UserWithInternals};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Number of people (member users with a licence, most of them).
    pub users: usize,
    /// Seed; the same seed gives the same tenant.
    pub seed: u64,
    /// Total personal contacts over all mailboxes (`None`: 10 per person on average).
    pub contacts: Option<usize>,
}

/// Microsoft 365 E3's SKU id (licence that brings an Exchange Online mailbox).
pub const SKU_E3: &str = "05e9a617-0261-4cee-bb44-138d3ef5d965";
/// Teams Phone Standard's SKU id.
pub const SKU_TEAMS_PHONE: &str = "e43b5b99-8dfb-405f-9987-dc307f34bcbd";

/// The application permissions the default app holds (what pbx365 asks for).
pub const DEFAULT_APP_ROLES: &[&str] = &[
    "User.Read.All",
    "Group.Read.All",
    "Contacts.Read",
    "OrgContact.Read.All",
    "Presence.ReadWrite.All",
    "Calendars.Read",
    "MailboxSettings.Read",
    "Mail.Send",
];

/// Delegated permissions the public-client app may be granted (presence readers, own contacts).
pub const DEFAULT_DELEGATED_SCOPES: &[&str] = &[
    "User.Read",
    "Presence.Read.All",
    "Contacts.Read",
    "offline_access",
    "openid",
    "profile",
];

struct Country {
    code: &'static str,
    name: &'static str,
    lang: &'static str,
    cities: &'static [(&'static str, &'static str)],
    given: &'static [&'static str],
    surnames: &'static [&'static str],
    weight: u32,
}

const COUNTRIES: &[Country] = &[
    Country {
        code: "DE",
        name: "Germany",
        lang: "de-DE",
        cities: &[
            ("Berlin", "30"),
            ("München", "89"),
            ("Köln", "221"),
            ("Hamburg", "40"),
        ],
        given: &[
            "Jürgen",
            "Anna",
            "Lukas",
            "Sophie",
            "Maximilian",
            "Jörg",
            "Bärbel",
            "Hans-Peter",
            "Emma",
            "Günther",
            "Lena",
            "Marie-Luise",
        ],
        surnames: &[
            "Müller",
            "Meier",
            "Maier",
            "Mayer",
            "Schmidt",
            "Schmitt",
            "Schröder",
            "Weiß",
            "Groß",
            "Köhler",
            "Fischer",
            "Becker",
            "Hoffmann",
            "Schäfer",
        ],
        weight: 30,
    },
    Country {
        code: "AT",
        name: "Austria",
        lang: "de-AT",
        cities: &[("Wien", "1"), ("Graz", "316")],
        given: &["Florian", "Johanna", "Stefan", "Theresa"],
        surnames: &["Gruber", "Huber", "Bauer", "Wagner", "Pichler", "Steiner"],
        weight: 5,
    },
    Country {
        code: "CH",
        name: "Switzerland",
        lang: "de-CH",
        cities: &[("Zürich", "44"), ("Genève", "22")],
        given: &["Urs", "Céline", "Reto", "Nathalie"],
        surnames: &["Keller", "Brunner", "Baumann", "Favre", "Rochat"],
        weight: 4,
    },
    Country {
        code: "US",
        name: "United States",
        lang: "en-US",
        cities: &[("Seattle", "206"), ("New York", "212"), ("Chicago", "312")],
        given: &[
            "James",
            "Mary",
            "Robert",
            "Patricia",
            "Michael",
            "Jennifer",
            "D'Andre",
            "Mary-Kate",
        ],
        surnames: &[
            "Smith", "Johnson", "Williams", "Brown", "O'Connor", "McDonald", "Garcia", "Lee",
        ],
        weight: 18,
    },
    Country {
        code: "GB",
        name: "United Kingdom",
        lang: "en-GB",
        cities: &[
            ("London", "20"),
            ("Manchester", "161"),
            ("Edinburgh", "131"),
        ],
        given: &["Oliver", "Amelia", "George", "Isla", "Siobhán", "Niamh"],
        surnames: &[
            "Taylor",
            "Davies",
            "Evans",
            "O'Brien",
            "Smythe",
            "Ní Bhriain",
        ],
        weight: 10,
    },
    Country {
        code: "FR",
        name: "France",
        lang: "fr-FR",
        cities: &[("Paris", "1"), ("Lyon", "4")],
        given: &["Zoé", "Léa", "François", "Hélène", "Jérôme", "Anaïs"],
        surnames: &[
            "Martin",
            "Bernard",
            "Lefèvre",
            "Dubois",
            "Lemaître",
            "Gauthier",
        ],
        weight: 8,
    },
    Country {
        code: "ES",
        name: "Spain",
        lang: "es-ES",
        cities: &[("Madrid", "91"), ("Barcelona", "93")],
        given: &["José", "María", "Íñigo", "Lucía", "Raúl"],
        surnames: &["García", "Fernández", "Núñez", "Peña", "Martínez"],
        weight: 5,
    },
    Country {
        code: "IT",
        name: "Italy",
        lang: "it-IT",
        cities: &[("Roma", "06"), ("Milano", "02")],
        given: &["Giulia", "Niccolò", "Francesca", "Lorenzo"],
        surnames: &["Rossi", "Russo", "D'Angelo", "Esposito", "De Luca"],
        weight: 4,
    },
    Country {
        code: "PL",
        name: "Poland",
        lang: "pl-PL",
        cities: &[("Warszawa", "22"), ("Kraków", "12")],
        given: &["Łukasz", "Małgorzata", "Paweł", "Zofia"],
        surnames: &["Kowalski", "Wiśniewska", "Wójcik", "Łęcki"],
        weight: 3,
    },
    Country {
        code: "SE",
        name: "Sweden",
        lang: "sv-SE",
        cities: &[("Stockholm", "8"), ("Göteborg", "31")],
        given: &["Åsa", "Björn", "Øystein", "Linnéa"],
        surnames: &["Andersson", "Öberg", "Ångström", "Lindqvist"],
        weight: 3,
    },
    Country {
        code: "IL",
        name: "Israel",
        lang: "he-IL",
        cities: &[("Tel Aviv", "3"), ("ירושלים", "2")],
        given: &["נועה", "דוד", "Yael", "אורי"],
        surnames: &["כהן", "לוי", "Mizrahi", "פרץ"],
        weight: 2,
    },
    Country {
        code: "AE",
        name: "United Arab Emirates",
        lang: "ar-AE",
        cities: &[("Dubai", "4"), ("Abu Dhabi", "2")],
        given: &["محمد", "فاطمة", "Omar", "ليلى"],
        surnames: &["الهاشمي", "Al-Farsi", "المنصوري", "Haddad"],
        weight: 2,
    },
    Country {
        code: "CN",
        name: "China",
        lang: "zh-CN",
        cities: &[("上海", "21"), ("Beijing", "10")],
        given: &["伟", "芳", "Wei", "秀英"],
        surnames: &["王", "李", "Zhang", "刘"],
        weight: 3,
    },
    Country {
        code: "JP",
        name: "Japan",
        lang: "ja-JP",
        cities: &[("東京", "3"), ("Osaka", "6")],
        given: &["太郎", "花子", "Haruto", "さくら"],
        surnames: &["佐藤", "鈴木", "Takahashi", "田中"],
        weight: 3,
    },
];

const DEPARTMENTS: &[&str] = &[
    "Sales",
    "Support",
    "Engineering",
    "Finance",
    "Human Resources",
    "Marketing",
    "Logistics",
    "Legal",
    "IT",
    "Purchasing",
    "Management",
    "Facility",
];

const TITLES: &[&str] = &[
    "Manager",
    "Specialist",
    "Engineer",
    "Assistant",
    "Consultant",
    "Team Lead",
    "Director",
    "Trainee",
    "Account Executive",
    "Agent",
];

const COMPANIES: &[&str] = &[
    "Fabrikam GmbH",
    "Northwind Traders",
    "Adventure Works",
    "Tailspin Toys",
    "Wingtip Toys",
    "Litware Inc.",
    "Proseware, Inc.",
    "Müller & Söhne KG",
    "Société Générale d'Électricité",
    "Contoso Pharmaceuticals",
    "Blue Yonder Airlines",
    "Coho Winery",
    "Fourth Coffee",
    "Bäckerei Groß",
    "Datum Corporation",
];

const FOLDER_NAMES: &[&str] = &[
    "Suppliers",
    "Customers",
    "Family",
    "Partners",
    "Private",
    "Kunden",
    "Lieferanten",
    "VIP",
];

/// Country calling codes for the countries above.
fn calling_code(cc: &str) -> &'static str {
    match cc {
        "DE" => "49",
        "AT" => "43",
        "CH" => "41",
        "US" => "1",
        "GB" => "44",
        "FR" => "33",
        "ES" => "34",
        "IT" => "39",
        "PL" => "48",
        "SE" => "46",
        "IL" => "972",
        "AE" => "971",
        "CN" => "86",
        "JP" => "81",
        _ => "49",
    }
}

struct Gen {
    rng: ChaCha8Rng,
    total_weight: u32,
}

impl Gen {
    fn uuid(&mut self) -> String {
        let b: [u8; 16] = self.rng.gen();
        uuid::Builder::from_random_bytes(b).into_uuid().to_string()
    }

    fn outlook_id(&mut self, prefix: &str) -> String {
        let b: [u8; 30] = self.rng.gen();
        format!("{prefix}{}", URL_SAFE_NO_PAD.encode(b))
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p.clamp(0.0, 1.0))
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        items.choose(&mut self.rng).expect("non-empty table")
    }

    fn country(&mut self) -> &'static Country {
        let mut r = self.rng.gen_range(0..self.total_weight);
        for c in COUNTRIES {
            if r < c.weight {
                return c;
            }
            r -= c.weight;
        }
        &COUNTRIES[0]
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|i| {
                let d = if i == 0 {
                    self.rng.gen_range(1..10)
                } else {
                    self.rng.gen_range(0..10)
                };
                char::from(b'0' + d as u8)
            })
            .collect()
    }

    /// A landline number in one of the forms people type.
    fn landline(&mut self, c: &Country, area: &str) -> String {
        let cc = calling_code(c.code);
        let sub = self.digits(7);
        let trunk = if matches!(c.code, "US" | "IT" | "ES") {
            ""
        } else {
            "0"
        };
        match self.rng.gen_range(0..10) {
            0 => format!("+{cc} {area} {sub}"),
            1 => format!("+{cc} ({trunk}){area} {}-{}", &sub[..4], &sub[4..]),
            2 => format!("00{cc} {area} {sub}"),
            3 => format!("{trunk}{area} {sub}"),
            4 => format!("{trunk}{area}/{sub}"),
            5 => format!("({trunk}{area}) {}-{}", &sub[..3], &sub[3..]),
            6 => format!("+{cc}{area}{sub}"),
            7 => format!("+{cc} {area} {sub} ext. {}", self.digits(3)),
            8 => format!("{trunk}{area}-{sub} x{}", self.digits(2)),
            _ => format!("+{cc}-{area}-{}-{}", &sub[..3], &sub[3..]),
        }
    }

    fn mobile(&mut self, c: &Country) -> String {
        let cc = calling_code(c.code);
        let (prefix, n) = match c.code {
            "DE" => ("15", 9),
            "GB" => ("7", 9),
            "US" => ("206", 7),
            "FR" => ("6", 8),
            _ => ("6", 8),
        };
        let rest = self.digits(n);
        match self.rng.gen_range(0..4) {
            0 => format!("+{cc} {prefix}{} {}", &rest[..2], &rest[2..]),
            1 => format!(
                "{}{prefix}{} {}",
                if c.code == "US" { "" } else { "0" },
                &rest[..2],
                &rest[2..]
            ),
            2 => format!("+{cc}{prefix}{rest}"),
            _ => format!("00{cc} {prefix} {rest}"),
        }
    }

    /// The odd things found in phone fields.
    fn junk_phone(&mut self) -> String {
        self.pick(&[
            "n/a",
            "-",
            "call reception",
            "1-800-FLOWERS",
            "+1 800 MY-APPLE",
            "0800 FON-ABC",
            "4711",
            "ext 23",
            "+49 (0) 30 / 1234 - 567 (Zentrale)",
            "tel:+493012345678",
            "  +44 20 7946 0958  ",
            "030 12345678 oder 0151 2345678",
            "",
        ])
        .to_string()
    }
}

/// Strips accents and non-ASCII to make mail nicknames (`Jürgen` → `jurgen`).
fn ascii_fold(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        let mapped: &str = match ch {
            'ä' | 'Ä' => "ae",
            'ö' | 'Ö' => "oe",
            'ü' | 'Ü' => "ue",
            'ß' => "ss",
            'à' | 'á' | 'â' | 'å' | 'Å' | 'ã' => "a",
            'é' | 'è' | 'ê' | 'ë' => "e",
            'í' | 'ì' | 'î' | 'ï' => "i",
            'ó' | 'ò' | 'ô' | 'ø' | 'Ø' | 'Ó' => "o",
            'ú' | 'ù' | 'û' => "u",
            'ç' => "c",
            'ñ' => "n",
            'ł' | 'Ł' => "l",
            'ś' => "s",
            'ę' => "e",
            'ą' => "a",
            'ż' | 'ź' => "z",
            'ć' => "c",
            'ń' => "n",
            _ => "",
        };
        if !mapped.is_empty() {
            out.push_str(mapped);
        } else if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        }
    }
    out
}

/// `given.surname` folded to ASCII; names with no Latin letters (CJK, Hebrew, Arabic) fall back
/// to what is left, or to `fallback`, never to a local part that starts or ends with a dot.
fn mail_nickname(given: &str, surname: &str, fallback: &str) -> String {
    let parts: Vec<String> = [ascii_fold(given), ascii_fold(surname)]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    match parts.len() {
        2 => parts.join("."),
        1 => format!("{}.{fallback}", parts[0]),
        _ => fallback.to_string(),
    }
}

fn jpeg_bytes(g: &mut Gen) -> Vec<u8> {
    // A JPEG SOI/APP0 header followed by seeded bytes and EOI: enough for clients to treat it
    // as image/jpeg and to notice when it changes.
    let mut b = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00,
    ];
    let n = g.rng.gen_range(48..96);
    b.extend((0..n).map(|_| g.rng.gen::<u8>()));
    b.extend([0xFF, 0xD9]);
    b
}

fn photo_etag(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(bytes);
    format!(
        "\"{}\"",
        d[..4]
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<String>()
    )
}

/// Makes a [`Photo`] from bytes (etag derived from the content).
pub fn photo_from_bytes(content_type: &str, size: u32, bytes: Vec<u8>) -> Photo {
    Photo {
        content_type: content_type.to_string(),
        size,
        etag: photo_etag(&bytes),
        bytes,
    }
}

/// An empty mailbox for a user (default Contacts folder, no children, no contacts).
pub fn empty_mailbox(user_id: &str) -> MailboxData {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(user_id.as_bytes());
    MailboxData {
        default_folder_id: format!("AQMkAD{}AAAAEOAAAA", URL_SAFE_NO_PAD.encode(&d[..18])),
        root_folder_id: format!("AQMkAD{}AAAAEIAAAA", URL_SAFE_NO_PAD.encode(&d[..18])),
        ..Default::default()
    }
}

/// The default fully consented app with a fresh random secret (secrets never come from the seed).
pub fn default_app(rng: &mut impl Rng) -> App {
    let secret: [u8; 30] = rng.gen();
    App {
        client_id: uuid::Uuid::new_v4().to_string(),
        display_name: "pbx365".into(),
        secrets: vec![AppSecret {
            key_id: uuid::Uuid::new_v4().to_string(),
            value: URL_SAFE_NO_PAD.encode(secret),
            end_date_time: "2099-12-31T00:00:00Z".into(),
        }],
        app_roles: DEFAULT_APP_ROLES.iter().map(|s| s.to_string()).collect(),
        delegated_scopes: DEFAULT_DELEGATED_SCOPES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        admin_consented: true,
        allow_public_client: false,
        redirect_uris: vec!["http://localhost:8365/auth/callback".into()],
        mailbox_scope: None,
        certificates: Vec::new(),
    }
}

fn extra_apps(rng: &mut impl Rng, scoped_mailboxes: BTreeSet<String>) -> Vec<App> {
    let mut unconsented = default_app(rng);
    unconsented.display_name = "pbx365 (not consented)".into();
    unconsented.admin_consented = false;
    let mut public = default_app(rng);
    public.display_name = "pbx365 presence readers".into();
    public.allow_public_client = true;
    public.app_roles.clear();
    let mut scoped = default_app(rng);
    scoped.display_name = "pbx365 (application access policy)".into();
    scoped.mailbox_scope = Some(scoped_mailboxes);
    let mut expired = default_app(rng);
    expired.display_name = "pbx365 (expired secret)".into();
    expired.secrets[0].end_date_time = "2024-01-01T00:00:00Z".into();
    vec![unconsented, public, scoped, expired]
}

/// Generates a whole tenant.
pub fn generate(opts: &GenerateOptions) -> TenantFile {
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(opts.seed),
        total_weight: COUNTRIES.iter().map(|c| c.weight).sum(),
    };
    let tenant_id = g.uuid();
    let domain = "contoso.com";
    let today = chrono::Utc::now().date_naive();
    let mut users: Vec<UserRecord> = Vec::with_capacity(opts.users + opts.users / 20 + 8);
    let mut upns = HashSet::new();
    let mut dept_members: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut licensed = Vec::new();
    let mut mailbox_users = Vec::new();

    let mut unique_upn = |base: String, dom: &str| -> String {
        let mut n = 1;
        let mut upn = format!("{base}@{dom}");
        while !upns.insert(upn.clone()) {
            n += 1;
            upn = format!("{base}{n}@{dom}");
        }
        upn
    };

    for i in 0..opts.users {
        let c = g.country();
        let given = *g.pick(c.given);
        let surname = *g.pick(c.surnames);
        let (city, area) = *g.pick(c.cities);
        let dept = *g.pick(DEPARTMENTS);
        let nick = mail_nickname(given, surname, &format!("user{}", i + 1));
        let upn = unique_upn(nick.clone(), domain);
        let id = g.uuid();
        let unlicensed = g.chance(0.04);
        let disabled = g.chance(0.03);
        let synced = g.chance(0.2);
        let ext: u32 = 1000 + i as u32;
        let business_phones = if g.chance(0.85) {
            vec![match g.rng.gen_range(0..3) {
                0 => format!("+{} {} 5550{}", calling_code(c.code), area, ext),
                1 => format!("+{} ({}) 555-{}", calling_code(c.code), area, ext),
                _ => g.landline(c, area),
            }]
        } else {
            Vec::new()
        };
        let mobile = g.chance(0.6).then(|| g.mobile(c));
        let photo = g.chance(0.6).then(|| {
            let bytes = jpeg_bytes(&mut g);
            photo_from_bytes("image/jpeg", 240, bytes)
        });
        let mailbox = if unlicensed {
            MailboxKind::None
        } else {
            MailboxKind::User
        };
        let user = User {
            id: id.clone(),
            account_enabled: Some(!disabled),
            assigned_licenses: if unlicensed {
                Vec::new()
            } else {
                let mut l = vec![AssignedLicense {
                    disabled_plans: Vec::new(),
                    sku_id: SKU_E3.into(),
                }];
                if g.chance(0.5) {
                    l.push(AssignedLicense {
                        disabled_plans: Vec::new(),
                        sku_id: SKU_TEAMS_PHONE.into(),
                    });
                }
                l
            },
            business_phones,
            city: Some(city.into()),
            company_name: Some("Contoso".into()),
            country: Some(c.name.into()),
            created_date_time: Some(format!(
                "20{:02}-{:02}-{:02}T{:02}:{:02}:00Z",
                g.rng.gen_range(15..25),
                g.rng.gen_range(1..13),
                g.rng.gen_range(1..29),
                g.rng.gen_range(0..24),
                g.rng.gen_range(0..60)
            )),
            department: Some(dept.into()),
            display_name: Some(format!("{given} {surname}")),
            employee_id: Some(format!("E{:06}", i + 1)),
            given_name: Some(given.into()),
            job_title: Some(format!("{dept} {}", g.pick(TITLES))),
            mail: Some(upn.clone()),
            mail_nickname: Some(nick.clone()),
            mobile_phone: mobile,
            office_location: Some(format!("{city} {}", g.rng.gen_range(1..6))),
            on_premises_immutable_id: synced.then(|| URL_SAFE_NO_PAD.encode(id.as_bytes())),
            on_premises_sync_enabled: synced.then_some(true),
            preferred_language: Some(c.lang.into()),
            proxy_addresses: vec![
                format!("SMTP:{upn}"),
                format!("smtp:{nick}@contoso.onmicrosoft.com"),
            ],
            surname: Some(surname.into()),
            usage_location: Some(c.code.into()),
            user_principal_name: Some(upn.clone()),
            user_type: Some("Member".into()),
            creation_type: None,
            show_in_address_list: None,
            ..Default::default()
        };
        dept_members.entry(dept).or_default().push(id.clone());
        if !unlicensed {
            licensed.push(id.clone());
            mailbox_users.push(users.len());
        }
        let presence = (!unlicensed && g.chance(0.5)).then(|| {
            let (a, act) = *g.pick(&[
                ("Available", "Available"),
                ("Busy", "InACall"),
                ("Busy", "InAMeeting"),
                ("Away", "Away"),
                ("DoNotDisturb", "Presenting"),
                ("BeRightBack", "BeRightBack"),
            ]);
            PresenceState {
                sessions: vec![PresenceSession {
                    session_id: "teams-client".into(),
                    availability: a.into(),
                    activity: act.into(),
                    set_at: "2000-01-01T00:00:00Z".into(),
                    expires_at: "9999-12-31T00:00:00Z".into(),
                }],
                ..Default::default()
            }
        });
        let calendar = if unlicensed || !g.chance(0.5) {
            Vec::new()
        } else {
            let start_h = g.rng.gen_range(7..16);
            vec![CalendarBlock {
                start: format!("{today}T{start_h:02}:00:00"),
                end: format!("{today}T{:02}:00:00", start_h + 1),
                status: g.pick(&["busy", "busy", "tentative", "oof"]).to_string(),
                subject: Some("Meeting".into()),
            }]
        };
        let ooo = !unlicensed && g.chance(0.03);
        users.push(UserRecord {
            user: UserWithInternals {
                user,
                mailbox,
                photo,
            },
            mailbox_data: (!unlicensed).then(|| {
                let mut m = empty_mailbox(&id);
                m.calendar = calendar;
                m.automatic_replies = AutomaticReplies {
                    status: if ooo { "alwaysEnabled" } else { "disabled" }.into(),
                    external_audience: "all".into(),
                    internal_reply_message: if ooo {
                        "I am out of the office.".into()
                    } else {
                        String::new()
                    },
                    ..Default::default()
                };
                m
            }),
            presence,
        });
    }

    // Guests: no mailbox, #EXT# UPNs.
    for _ in 0..(opts.users / 50).max(usize::from(opts.users >= 10)) {
        let c = g.country();
        let given = *g.pick(c.given);
        let surname = *g.pick(c.surnames);
        let ext_dom = *g.pick(&["fabrikam.com", "northwind.example", "gmail.com"]);
        let nick = mail_nickname(given, surname, "guest");
        let mail = format!("{nick}@{ext_dom}");
        let upn = unique_upn(
            format!("{}#EXT#", mail.replace('@', "_")),
            "contoso.onmicrosoft.com",
        );
        let id = g.uuid();
        users.push(UserRecord {
            user: UserWithInternals {
                user: User {
                    id,
                    account_enabled: Some(true),
                    display_name: Some(format!("{given} {surname} (Guest)")),
                    given_name: Some(given.into()),
                    surname: Some(surname.into()),
                    mail: Some(mail.clone()),
                    other_mails: vec![mail],
                    user_principal_name: Some(upn),
                    user_type: Some("Guest".into()),
                    creation_type: Some("Invitation".into()),
                    external_user_state: Some("Accepted".into()),
                    usage_location: Some(c.code.into()),
                    mobile_phone: g.chance(0.3).then(|| g.mobile(c)),
                    ..Default::default()
                },
                mailbox: MailboxKind::None,
                photo: None,
            },
            mailbox_data: None,
            presence: None,
        });
    }

    // Shared mailboxes (disabled users), rooms and equipment.
    let mut resource_ids = Vec::new();
    let shared_names = [
        "Reception",
        "Sales Team",
        "Support Desk",
        "Accounts Payable",
        "Fleet",
    ];
    let n_shared = (opts.users / 200).clamp(2, 50);
    let n_rooms = (opts.users / 100).clamp(1, 100);
    for k in 0..(n_shared + n_rooms + 1) {
        let (kind, name) = if k < n_shared {
            (
                MailboxKind::Shared,
                format!(
                    "{}{}",
                    shared_names[k % shared_names.len()],
                    if k >= shared_names.len() {
                        format!(" {}", k / shared_names.len() + 1)
                    } else {
                        String::new()
                    }
                ),
            )
        } else if k < n_shared + n_rooms {
            (
                MailboxKind::Room,
                format!("Room {}.{:02}", k % 5 + 1, k - n_shared + 1),
            )
        } else {
            (MailboxKind::Equipment, "Projector 1".to_string())
        };
        let nick = ascii_fold(&name.replace(' ', ""));
        let upn = unique_upn(nick.clone(), domain);
        let id = g.uuid();
        resource_ids.push(users.len());
        users.push(UserRecord {
            user: UserWithInternals {
                user: User {
                    id: id.clone(),
                    account_enabled: Some(false),
                    display_name: Some(name.clone()),
                    mail: Some(upn.clone()),
                    mail_nickname: Some(nick),
                    user_principal_name: Some(upn),
                    user_type: Some("Member".into()),
                    business_phones: if kind == MailboxKind::Shared {
                        vec![format!("+49 30 5550{}", 100 + k)]
                    } else {
                        Vec::new()
                    },
                    ..Default::default()
                },
                mailbox: kind,
                photo: None,
            },
            mailbox_data: Some(empty_mailbox(&id)),
            presence: None,
        });
    }

    // Personal contacts: spread over people's and shared mailboxes, in folders.
    let total = opts.contacts.unwrap_or(opts.users * 10);
    let holders: Vec<usize> = mailbox_users
        .iter()
        .copied()
        .chain(
            resource_ids
                .iter()
                .copied()
                .filter(|&i| users[i].user.mailbox == MailboxKind::Shared),
        )
        .collect();
    if !holders.is_empty() && total > 0 {
        // Shared mailboxes get a larger share (they feed the company phonebook).
        let mut weights: Vec<u32> = holders
            .iter()
            .map(|&i| {
                if users[i].user.mailbox == MailboxKind::Shared {
                    10
                } else {
                    g.rng.gen_range(0..3)
                }
            })
            .collect();
        if weights.iter().all(|w| *w == 0) {
            weights[0] = 1;
        }
        let wsum: u64 = weights.iter().map(|w| *w as u64).sum();
        let mut assigned = 0usize;
        for (n, &i) in holders.iter().enumerate() {
            let share = if n + 1 == holders.len() {
                total - assigned
            } else {
                ((total as u64 * weights[n] as u64) / wsum) as usize
            }
            .min(total - assigned);
            assigned += share;
            let Some(mb) = users[i].mailbox_data.as_mut() else {
                continue;
            };
            fill_mailbox(&mut g, mb, share);
        }
    }

    // Groups: a security group per department, "All Staff" nesting them, "Phone Users",
    // and a Microsoft 365 group.
    let mut groups = Vec::new();
    let mut dept_group_ids = Vec::new();
    for (dept, members) in &dept_members {
        let id = g.uuid();
        dept_group_ids.push(id.clone());
        groups.push(GroupRecord {
            group: Group {
                id,
                display_name: Some(format!("Dept {dept}")),
                description: Some(format!("Everyone in {dept}")),
                security_enabled: Some(true),
                mail_enabled: Some(false),
                mail_nickname: Some(format!("dept-{}", ascii_fold(dept))),
                created_date_time: Some("2020-01-01T00:00:00Z".into()),
                ..Default::default()
            },
            members: members.clone(),
        });
    }
    let all_staff = g.uuid();
    groups.push(GroupRecord {
        group: Group {
            id: all_staff,
            display_name: Some("All Staff".into()),
            security_enabled: Some(true),
            mail_enabled: Some(false),
            mail_nickname: Some("allstaff".into()),
            created_date_time: Some("2020-01-01T00:00:00Z".into()),
            ..Default::default()
        },
        members: dept_group_ids,
    });
    let phone_users = g.uuid();
    groups.push(GroupRecord {
        group: Group {
            id: phone_users,
            display_name: Some("Phone Users".into()),
            description: Some("Users who get a PBX extension".into()),
            security_enabled: Some(true),
            mail_enabled: Some(false),
            mail_nickname: Some("phoneusers".into()),
            created_date_time: Some("2021-03-01T00:00:00Z".into()),
            ..Default::default()
        },
        members: licensed
            .iter()
            .take(licensed.len() * 9 / 10)
            .cloned()
            .collect(),
    });
    let m365 = g.uuid();
    groups.push(GroupRecord {
        group: Group {
            id: m365,
            display_name: Some("Contoso Sales Team".into()),
            group_types: vec!["Unified".into()],
            security_enabled: Some(false),
            mail_enabled: Some(true),
            mail: Some("salesteam@contoso.com".into()),
            mail_nickname: Some("salesteam".into()),
            visibility: Some("Private".into()),
            created_date_time: Some("2022-06-01T00:00:00Z".into()),
            ..Default::default()
        },
        members: dept_members.get("Sales").cloned().unwrap_or_default(),
    });

    // Org contacts (Exchange mail contacts).
    let mut org_contacts = Vec::new();
    for _ in 0..(opts.users / 10).max(5) {
        let c = g.country();
        let given = *g.pick(c.given);
        let surname = *g.pick(c.surnames);
        let (city, area) = *g.pick(c.cities);
        let company = *g.pick(COMPANIES);
        let mail = format!(
            "{}.{}@{}.example",
            ascii_fold(given),
            ascii_fold(surname),
            ascii_fold(company)
        );
        let mut phones = vec![Phone {
            number: Some(g.landline(c, area)),
            kind: Some("business".into()),
            region: None,
            language: None,
        }];
        if g.chance(0.5) {
            phones.push(Phone {
                number: Some(g.mobile(c)),
                kind: Some("mobile".into()),
                region: None,
                language: None,
            });
        }
        if g.chance(0.2) {
            phones.push(Phone {
                number: Some(g.landline(c, area)),
                kind: Some("businessFax".into()),
                region: None,
                language: None,
            });
        }
        org_contacts.push(OrgContact {
            id: g.uuid(),
            addresses: vec![PhysicalOfficeAddress {
                city: Some(city.into()),
                country_or_region: Some(c.code.into()),
                ..Default::default()
            }],
            company_name: Some(company.into()),
            display_name: Some(format!("{given} {surname} ({company})")),
            given_name: Some(given.into()),
            surname: Some(surname.into()),
            mail: Some(mail.clone()),
            mail_nickname: Some(ascii_fold(&format!("{given}{surname}"))),
            phones,
            proxy_addresses: vec![format!("SMTP:{mail}")],
            on_premises_sync_enabled: None,
            ..Default::default()
        });
    }

    let scoped: BTreeSet<String> = licensed.iter().take(3).cloned().collect();
    let mut rng = rand::thread_rng();
    let mut apps = vec![default_app(&mut rng)];
    apps.extend(extra_apps(&mut rng, scoped));
    TenantFile {
        tenant_id,
        domain: "contoso.onmicrosoft.com".into(),
        display_name: "Contoso".into(),
        apps,
        users,
        groups,
        org_contacts,
    }
}

fn fill_mailbox(g: &mut Gen, mb: &mut MailboxData, count: usize) {
    let n_folders = if count < 5 { 0 } else { g.rng.gen_range(0..4) };
    let mut folder_ids = vec![mb.default_folder_id.clone()];
    for f in 0..n_folders {
        let id = g.outlook_id("AAMkAGZmb");
        let parent = if f > 0 && g.chance(0.3) {
            folder_ids[g.rng.gen_range(1..folder_ids.len())].clone()
        } else {
            mb.default_folder_id.clone()
        };
        mb.folders.push(ContactFolder {
            id: id.clone(),
            display_name: Some(FOLDER_NAMES[f % FOLDER_NAMES.len()].to_string()),
            parent_folder_id: Some(parent),
        });
        folder_ids.push(id);
    }
    mb.contacts.reserve(count);
    for _ in 0..count {
        let folder = if folder_ids.len() > 1 && g.chance(0.4) {
            folder_ids[g.rng.gen_range(1..folder_ids.len())].clone()
        } else {
            mb.default_folder_id.clone()
        };
        mb.contacts.push(contact(g, folder));
    }
}

fn contact(g: &mut Gen, folder: String) -> Contact {
    let c = g.country();
    let given = *g.pick(c.given);
    let surname = *g.pick(c.surnames);
    let (_, area) = *g.pick(c.cities);
    let company = g.chance(0.7).then(|| g.pick(COMPANIES).to_string());
    let mut business = Vec::new();
    if g.chance(0.8) {
        business.push(g.landline(c, area));
    }
    if g.chance(0.1) {
        business.push(g.landline(c, area));
    }
    let mut home = Vec::new();
    if g.chance(0.2) {
        home.push(g.landline(c, area));
    }
    if g.chance(0.05) {
        let j = g.junk_phone();
        business.push(j);
    }
    let mobile = g.chance(0.5).then(|| g.mobile(c));
    let email = g.chance(0.7).then(|| EmailAddress {
        name: Some(format!("{given} {surname}")),
        address: Some(format!(
            "{}.{}@{}",
            ascii_fold(given),
            ascii_fold(surname),
            company
                .as_deref()
                .map(|c| format!("{}.example", ascii_fold(c)))
                .unwrap_or_else(|| "mail.example".into())
        )),
    });
    let id = g.outlook_id("AAMkADc2");
    let ck: [u8; 6] = g.rng.gen();
    Contact {
        id,
        created_date_time: Some("2023-05-01T08:00:00Z".into()),
        last_modified_date_time: Some("2023-05-01T08:00:00Z".into()),
        change_key: Some(URL_SAFE_NO_PAD.encode(ck)),
        parent_folder_id: Some(folder),
        display_name: Some(format!("{given} {surname}")),
        file_as: Some(format!("{surname}, {given}")),
        given_name: Some(given.into()),
        surname: Some(surname.into()),
        company_name: company,
        job_title: g.chance(0.3).then(|| g.pick(TITLES).to_string()),
        business_phones: business,
        home_phones: home,
        mobile_phone: mobile,
        email_addresses: email.into_iter().collect(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_tenant_and_contact_total() {
        let o = GenerateOptions {
            users: 200,
            seed: 7,
            contacts: Some(1234),
        };
        let a = generate(&o);
        let b = generate(&o);
        assert_eq!(a.tenant_id, b.tenant_id);
        let ids = |t: &TenantFile| {
            t.users
                .iter()
                .map(|u| u.user.user.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
        let contacts: usize = a
            .users
            .iter()
            .filter_map(|u| u.mailbox_data.as_ref())
            .map(|m| m.contacts.len())
            .sum();
        assert_eq!(contacts, 1234);
        assert!(a.validate().is_ok());
        let upns: HashSet<_> = a
            .users
            .iter()
            .map(|u| u.user.user.user_principal_name.clone())
            .collect();
        assert_eq!(upns.len(), a.users.len(), "UPNs are unique");
        assert!(a
            .users
            .iter()
            .any(|u| u.user.user.user_type.as_deref() == Some("Guest")));
        assert!(a
            .users
            .iter()
            .any(|u| u.user.mailbox == MailboxKind::Shared
                && u.user.user.account_enabled == Some(false)));
        assert!(a.users.iter().any(|u| u.user.mailbox == MailboxKind::None
            && u.user.user.user_type.as_deref() == Some("Member")));
        let other = generate(&GenerateOptions { seed: 8, ..o });
        assert_ne!(ids(&a), ids(&other));
    }

    #[test]
    fn nicknames_never_start_or_end_with_a_dot() {
        assert_eq!(
            mail_nickname("Jürgen", "Müller", "user1"),
            "juergen.mueller"
        );
        assert_eq!(mail_nickname("Wei", "李", "user7"), "wei.user7");
        assert_eq!(mail_nickname("太郎", "佐藤", "user9"), "user9");
        let t = generate(&GenerateOptions {
            users: 500,
            seed: 3,
            contacts: Some(0),
        });
        for u in &t.users {
            let upn = u.user.user.user_principal_name.as_deref().unwrap_or("");
            let local = upn.split('@').next().unwrap_or("");
            assert!(
                !local.is_empty() && !local.starts_with('.') && !local.ends_with('.'),
                "{upn}"
            );
        }
    }

    #[test]
    fn folding() {
        assert_eq!(ascii_fold("Jürgen"), "juergen");
        assert_eq!(ascii_fold("O'Brien"), "obrien");
        assert_eq!(ascii_fold("王"), "");
    }
}
