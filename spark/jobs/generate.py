"""Synthetic lake generator: customers, products, orders, order lines and clickstream, deterministic per seed.

Every value is a pure function of the seed and a row's index (``xxhash64`` over a per-column salt), so the data does not
depend on partitioning, and related datasets agree without joins: an order computes its customer's country, its lines'
prices and its total from the same functions that build the customer and product rows. Rows come from ``spark.range``
or from exploding a small table of hourly time slots, so orders and events are laid out in time order and each task
writes only a few date partitions.

Realism: customer activity follows a power law (the top tenth of customers hold roughly a third of revenue), volume
follows weekly, daily and yearly seasonality (November and December peak, Black Friday and Cyber Monday), and names,
emails, phones, addresses, postal codes, currencies and payment methods follow each customer's country. A share of
``bad_share`` rows per dataset is deliberately bad: null and malformed emails, negative totals, future timestamps,
exact duplicate orders, orders of unknown customers and lines of unknown products.

    python -m spark.jobs.generate --lake file:///tmp/lake --rows 100000 --seed 7
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import time
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StructField, StructType

from spark.jobs.base import JobContext, JobResult, main
from spark.lineage import output_dataset
from spark.paths import dataset_uri, lineage_pair
from spark.schema import CUSTOMERS, ORDER_ITEMS, ORDERS, PRODUCTS, USER_EVENTS, LakeDataset

NAME = "generate"

DEFAULT_START = date(2025, 1, 1)
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
SHOP_URL = "https://www.ecap-shop.example"
# Orders and sessions per Spark task: big enough to amortise task start-up, small enough to spread over the cores.
ROWS_PER_TASK = 1_000_000
# Customers who signed up before the window; the rest sign up evenly during it.
EXISTING_CUSTOMER_SHARE = 0.6
# Activity density over customer rank ∝ (rank + EPS)^-ACTIVITY_EXPONENT: a power law whose top 10% hold ~1/3 of orders.
ACTIVITY_EXPONENT = 0.45
ACTIVITY_EPS_CUSTOMERS = 2.0
# Product popularity: rank = catalogue size * u^POPULARITY_POWER (a few products sell most).
POPULARITY_POWER = 2.5
# Browsing sessions without an order, per order: real funnels convert ~2-3% of sessions, which would make the
# clickstream 40x the orders; half a session per order keeps events a few times the orders at any scale.
BROWSE_SESSIONS_PER_ORDER = 0.5
ANONYMOUS_SHARE = 0.6
MAX_LINES = 8
FUTURE_OFFSET_DAYS = 3650  # bad "future" timestamps land ten years after the window, in the future for any recent run
PICK_TABLE_SIZE = 1000

CUSTOMER_BAD_KINDS = ("null_email", "malformed_email")
ORDER_BAD_KINDS = ("negative_amount", "future_timestamp", "duplicate_id", "orphan_customer")
ITEM_BAD_KINDS = ("orphan_product",)
BAD_KINDS = CUSTOMER_BAD_KINDS + ORDER_BAD_KINDS + ITEM_BAD_KINDS


@dataclass(frozen=True)
class Country:
    """A market: ISO codes, its share of customers, how its phones, postal codes and addresses look."""

    iso: str
    weight: float
    currency: str
    fx: float  # local units per US dollar, for localised price points
    region: str  # name and street pools
    phone_cc: str
    phone_prefixes: tuple[str, ...]
    phone_digits: int  # subscriber digits after the prefix
    postal_pattern: str  # after the city's prefix: '#' digit, '@' letter, other characters literal
    cities: tuple[tuple[str, str], ...]  # (city, postal prefix), most populous first
    email_domains: tuple[str, ...]
    local_payment: str = ""
    local_payment_share: float = 0.0


COUNTRIES: tuple[Country, ...] = (
    Country("US", 30, "USD", 1.0, "en", "1", ("212", "310", "312", "415", "617", "713", "206", "305", "404", "512"),
            7, "##", (("New York", "100"), ("Los Angeles", "900"), ("Chicago", "606"), ("Houston", "770"),
                      ("Phoenix", "850"), ("Philadelphia", "191"), ("San Diego", "921"), ("Dallas", "752"),
                      ("Austin", "787"), ("Seattle", "981"), ("Boston", "021"), ("Miami", "331"), ("Denver", "802"),
                      ("Atlanta", "303"), ("San Francisco", "941"), ("Portland", "972")),
            ("comcast.net", "att.net", "verizon.net")),
    Country("GB", 12, "GBP", 0.79, "en", "44", ("74", "75", "77", "78", "79"), 8, "# #@@",
            (("London", "SW1"), ("London", "E1"), ("Manchester", "M1"), ("Birmingham", "B1"), ("Leeds", "LS1"),
             ("Glasgow", "G1"), ("Bristol", "BS1"), ("Liverpool", "L1"), ("Edinburgh", "EH1")),
            ("btinternet.com", "sky.com", "virginmedia.com")),
    Country("DE", 12, "EUR", 0.92, "de", "49", ("151", "152", "157", "160", "170", "171", "176"), 8, "###",
            (("Berlin", "10"), ("Hamburg", "20"), ("München", "80"), ("Köln", "50"), ("Frankfurt am Main", "60"),
             ("Stuttgart", "70"), ("Düsseldorf", "40"), ("Leipzig", "04"), ("Dresden", "01")),
            ("gmx.de", "web.de", "t-online.de"), "sepa_direct_debit", 0.12),
    Country("FR", 8, "EUR", 0.92, "fr", "33", ("6", "7"), 8, "##",
            (("Paris", "750"), ("Marseille", "130"), ("Lyon", "690"), ("Toulouse", "310"), ("Nice", "060"),
             ("Nantes", "440"), ("Bordeaux", "330"), ("Lille", "590")),
            ("orange.fr", "free.fr", "laposte.net"), "carte_bancaire", 0.3),
    Country("ES", 5, "EUR", 0.92, "es", "34", ("6", "7"), 8, "##",
            (("Madrid", "280"), ("Barcelona", "080"), ("Valencia", "460"), ("Sevilla", "410"), ("Bilbao", "480")),
            ("telefonica.net", "hotmail.es")),
    Country("IT", 5, "EUR", 0.92, "it", "39", ("320", "328", "333", "339", "347", "348", "366", "380"), 7, "##",
            (("Roma", "001"), ("Milano", "201"), ("Napoli", "801"), ("Torino", "101"), ("Firenze", "501"),
             ("Bologna", "401")),
            ("libero.it", "virgilio.it", "tiscali.it")),
    Country("NL", 4, "EUR", 0.92, "nl", "31", ("6",), 8, "## @@",
            (("Amsterdam", "10"), ("Rotterdam", "30"), ("Den Haag", "25"), ("Utrecht", "35"), ("Eindhoven", "56")),
            ("ziggo.nl", "kpnmail.nl"), "ideal", 0.5),
    Country("CA", 5, "CAD", 1.36, "en", "1", ("416", "514", "604", "403", "613", "647"), 7, "#@ #@#",
            (("Toronto", "M"), ("Montréal", "H"), ("Vancouver", "V"), ("Calgary", "T"), ("Ottawa", "K")),
            ("rogers.com", "shaw.ca")),
    Country("AU", 4, "AUD", 1.52, "en", "61", ("4",), 8, "###",
            (("Sydney", "2"), ("Melbourne", "3"), ("Brisbane", "4"), ("Perth", "6"), ("Adelaide", "5")),
            ("bigpond.com", "optusnet.com.au"), "afterpay", 0.1),
    Country("BE", 2, "EUR", 0.92, "fr", "32", ("470", "472", "475", "477", "478", "479", "484", "486", "494"), 6, "##",
            (("Bruxelles", "10"), ("Antwerpen", "20"), ("Gent", "90"), ("Liège", "40")),
            ("skynet.be", "telenet.be"), "bancontact", 0.35),
    Country("AT", 2, "EUR", 0.92, "de", "43", ("650", "660", "664", "676", "699"), 7, "##",
            (("Wien", "10"), ("Graz", "80"), ("Linz", "40"), ("Salzburg", "50"), ("Innsbruck", "60")),
            ("gmx.at", "aon.at"), "sepa_direct_debit", 0.1),
    Country("CH", 2, "CHF", 0.88, "de", "41", ("76", "77", "78", "79"), 7, "##",
            (("Zürich", "80"), ("Genève", "12"), ("Basel", "40"), ("Bern", "30"), ("Lausanne", "10")),
            ("bluewin.ch", "gmx.ch"), "twint", 0.25),
    Country("IE", 2, "EUR", 0.92, "en", "353", ("83", "85", "86", "87", "89"), 7, "# @#@#",
            (("Dublin", "D0"), ("Dublin", "D1"), ("Cork", "T1"), ("Galway", "H9"), ("Limerick", "V9")),
            ("eircom.net",)),
    Country("PT", 2, "EUR", 0.92, "pt", "351", ("91", "92", "93", "96"), 7, "##-###",
            (("Lisboa", "10"), ("Porto", "40"), ("Braga", "47"), ("Coimbra", "30"), ("Faro", "80")),
            ("sapo.pt",), "mb_way", 0.2),
    Country("FI", 1, "EUR", 0.92, "fi", "358", ("40", "41", "44", "45", "50"), 7, "###",
            (("Helsinki", "00"), ("Espoo", "02"), ("Tampere", "33"), ("Turku", "20"), ("Oulu", "90")),
            ("elisanet.fi",), "mobilepay", 0.2),
    Country("NZ", 1, "NZD", 1.65, "en", "64", ("21", "22", "27"), 7, "##",
            (("Auckland", "10"), ("Wellington", "60"), ("Christchurch", "80"), ("Hamilton", "32")),
            ("xtra.co.nz",), "afterpay", 0.1),
    Country("SG", 1, "SGD", 1.34, "en", "65", ("8", "9"), 7, "####",
            (("Singapore", "01"), ("Singapore", "23"), ("Singapore", "46"), ("Singapore", "52")),
            ("singnet.com.sg",), "paynow", 0.2),
)  # fmt: skip

REGIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "first": ("James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
                  "David", "Sarah", "Daniel", "Emily", "Matthew", "Olivia", "Chris", "Jessica", "Andrew", "Sophie",
                  "Liam", "Emma", "Noah", "Grace"),
        "last": ("Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor", "Anderson",
                 "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker",
                 "Hall", "Young", "O'Brien", "Murphy"),
        "street": ("Main", "Oak", "Maple", "Cedar", "Park", "Elm", "Church", "High", "Station", "Victoria", "King",
                   "Queen", "Mill", "Lake", "Hill", "Pine", "River", "Washington"),
        "street_word": ("Street", "Avenue", "Road", "Lane", "Drive", "Way", "Close"),
    },
    "de": {
        "first": ("Lukas", "Anna", "Jonas", "Lena", "Leon", "Hannah", "Felix", "Marie", "Maximilian", "Sophie", "Paul",
                  "Laura", "Jürgen", "Katharina", "Tobias", "Julia", "Stefan", "Lea", "Andreas", "Sabine", "Matthias",
                  "Franziska", "Niklas", "Jana"),
        "last": ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
                 "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz",
                 "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann"),
        "street": ("Haupt", "Bahnhof", "Garten", "Schiller", "Goethe", "Linden", "Berg", "Kirch", "Wald", "Mozart",
                   "Schul", "Birken", "Feld", "Ring"),
        "street_word": ("straße", "weg", "gasse", "allee"),
    },
    "fr": {
        "first": ("Gabriel", "Louise", "Léo", "Emma", "Raphaël", "Jade", "Arthur", "Chloé", "Louis", "Manon", "Jules",
                  "Camille", "Hugo", "Léa", "Lucas", "Inès", "Théo", "Zoé", "Nathan", "Juliette", "Mathis", "Élodie",
                  "Antoine", "Margaux"),
        "last": ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
                 "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
                 "Morel", "Girard", "André", "Mercier"),
        "street": ("de la République", "Victor Hugo", "de la Paix", "Jean Jaurès", "Pasteur", "du Moulin",
                   "des Écoles", "Gambetta", "Voltaire", "de la Gare", "Nationale", "du Château"),
        "street_word": ("rue", "avenue", "boulevard", "place", "allée"),
    },
    "es": {
        "first": ("Hugo", "Lucía", "Martín", "Sofía", "Pablo", "María", "Daniel", "Paula", "Alejandro", "Valeria",
                  "Álvaro", "Carmen", "Javier", "Elena", "Diego", "Laura", "Sergio", "Marta", "Adrián", "Irene",
                  "Jorge", "Nerea", "Raúl", "Alba"),
        "last": ("García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez",
                 "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez", "Romero", "Alonso",
                 "Gutiérrez", "Navarro", "Torres", "Domínguez", "Vázquez"),
        "street": ("Mayor", "Real", "de Alcalá", "Gran Vía", "del Sol", "San Juan", "de la Paz", "Serrano", "Colón",
                   "de Cervantes"),
        "street_word": ("Calle", "Avenida", "Paseo", "Plaza"),
    },
    "it": {
        "first": ("Leonardo", "Sofia", "Francesco", "Giulia", "Alessandro", "Aurora", "Lorenzo", "Alice", "Mattia",
                  "Ginevra", "Andrea", "Emma", "Gabriele", "Giorgia", "Riccardo", "Beatrice", "Tommaso", "Chiara",
                  "Marco", "Francesca", "Luca", "Martina", "Matteo", "Elisa"),
        "last": ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco",
                 "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo", "Lombardi", "Moretti",
                 "Barbieri", "Fontana", "Santoro", "Mariani"),
        "street": ("Roma", "Garibaldi", "Mazzini", "Dante", "Verdi", "Cavour", "Vittorio Emanuele", "Marconi",
                   "Matteotti", "della Repubblica"),
        "street_word": ("Via", "Viale", "Piazza", "Corso"),
    },
    "nl": {
        "first": ("Daan", "Emma", "Sem", "Julia", "Lucas", "Mila", "Levi", "Tess", "Finn", "Sophie", "Milan", "Zoë",
                  "Jesse", "Sara", "Bram", "Anna", "Thijs", "Eva", "Ruben", "Lotte", "Stijn", "Fleur", "Joris", "Noor"),
        "last": ("de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser", "Smit",
                 "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen",
                 "Dekker", "Brouwer", "de Wit", "Dijkstra", "Smits", "de Graaf"),
        "street": ("Kerk", "Dorp", "Molen", "School", "Stations", "Prinsen", "Heren", "Keizers", "Linde",
                   "Wilhelmina"),
        "street_word": ("straat", "weg", "laan", "gracht", "plein"),
    },
    "pt": {
        "first": ("João", "Maria", "Francisco", "Leonor", "Santiago", "Matilde", "Afonso", "Beatriz", "Tomás",
                  "Carolina", "Duarte", "Mariana", "Rodrigo", "Inês", "Martim", "Ana", "Gonçalo", "Sofia", "Miguel",
                  "Diana", "Pedro", "Rita", "Tiago", "Catarina"),
        "last": ("Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "Costa", "Rodrigues", "Martins", "Jesus",
                 "Sousa", "Fernandes", "Gonçalves", "Gomes", "Lopes", "Marques", "Alves", "Almeida", "Ribeiro",
                 "Pinto", "Carvalho", "Teixeira", "Moreira", "Correia", "Mendes"),
        "street": ("Augusta", "da Liberdade", "de Santa Catarina", "do Carmo", "da República", "de São Bento",
                   "Direita", "das Flores"),
        "street_word": ("Rua", "Avenida", "Travessa", "Largo"),
    },
    "fi": {
        "first": ("Eino", "Aino", "Väinö", "Helmi", "Leo", "Olivia", "Onni", "Aada", "Elias", "Sofia", "Oliver",
                  "Eevi", "Eetu", "Ilona", "Juho", "Linnea", "Mikko", "Emilia", "Antti", "Venla", "Ville", "Siiri",
                  "Lauri", "Aili"),
        "last": ("Korhonen", "Virtanen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen", "Laine", "Heikkinen",
                 "Koskinen", "Järvinen", "Lehtonen", "Lehtinen", "Saarinen", "Salminen", "Heinonen", "Niemi",
                 "Heikkilä", "Kinnunen", "Salonen", "Turunen", "Salo", "Laitinen", "Tuominen", "Rantanen"),
        "street": ("Mannerheimin", "Aleksanterin", "Hämeen", "Kauppa", "Koulu", "Puisto", "Asema", "Kirkko", "Ranta",
                   "Koivu"),
        "street_word": ("katu", "tie", "kuja"),
    },
}  # fmt: skip
REGION_NAMES = tuple(REGIONS)
# How a region writes a street: 0 "12 Oak Street", 1 "Hauptstraße 12", 2 "12 rue Pasteur", 3 "Via Roma, 12".
STREET_TEMPLATE = {"en": 0, "de": 1, "nl": 1, "fi": 1, "fr": 2, "es": 3, "it": 3, "pt": 3}

GLOBAL_EMAIL_DOMAINS = (
    ("gmail.com", 40), ("outlook.com", 12), ("hotmail.com", 10), ("yahoo.com", 10), ("icloud.com", 9),
    ("proton.me", 3), ("aol.com", 2),
)  # fmt: skip
PAYMENT_METHODS = (
    ("credit_card", 40), ("debit_card", 15), ("paypal", 20), ("apple_pay", 9), ("google_pay", 6), ("klarna", 4),
    ("bank_transfer", 3), ("gift_card", 3),
)  # fmt: skip
DEVICES = (("mobile", 55), ("desktop", 37), ("tablet", 8))
USER_AGENTS = {
    "mobile": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 "
        "Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 "
        "Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 13; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 "
        "Chrome/121.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "CriOS/129.0.6668.69 Mobile/15E148 Safari/604.1",
    ),
    "desktop": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 "
        "Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 "
        "Safari/537.36 Edg/129.0.0.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:131.0) Gecko/20100101 Firefox/131.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 "
        "Safari/605.1.15",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 "
        "Safari/537.36",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36",
    ),
    "tablet": (
        "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
        "Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 "
        "Safari/537.36",
    ),
}
# Public first octets (no private, loopback, multicast or reserved ranges) and common IPv6 allocations.
IPV4_FIRST_OCTETS = (24, 31, 37, 46, 62, 66, 73, 77, 81, 82, 86, 88, 92, 98, 104, 109, 151, 176, 185, 188, 212, 217)
IPV6_PREFIXES = ("2a02", "2a01", "2a00", "2600", "2601", "2603", "2804", "2400", "2001")
IPV6_SHARE = 0.12

# (category, share of the catalogue, brands, ((subcategory, product nouns, median US$ price), ...))
CATEGORIES: tuple[tuple[str, float, tuple[str, ...], tuple[tuple[str, tuple[str, ...], float], ...]], ...] = (
    ("Electronics", 18, ("Voltra", "Nordlys", "Aurix", "Kairo", "Lumen", "Sonique"), (
        ("Headphones", ("Wireless Headphones", "Earbuds", "Noise-Cancelling Headphones"), 89),
        ("Smartphones", ("Smartphone",), 549),
        ("Laptops", ("Laptop", "Ultrabook"), 1099),
        ("Accessories", ("USB-C Cable", "Power Bank", "Phone Case", "Charger"), 19),
        ("Smart Home", ("Smart Speaker", "Smart Plug", "Security Camera"), 59),
        ("TV & Video", ("4K TV", "Soundbar", "Streaming Stick"), 399))),
    ("Home & Kitchen", 16, ("Casa Verde", "Hearthly", "Kitchora", "Maison Blanc", "Nook & Co"), (
        ("Cookware", ("Frying Pan", "Saucepan Set", "Dutch Oven"), 55),
        ("Small Appliances", ("Blender", "Coffee Maker", "Air Fryer", "Toaster"), 79),
        ("Bedding", ("Duvet Cover", "Pillow", "Sheet Set"), 45),
        ("Home Decor", ("Table Lamp", "Vase", "Picture Frame", "Wall Clock"), 29))),
    ("Fashion", 20, ("Urban Fern", "Atelier Nord", "Loomwell", "Drift & Co", "Marlow"), (
        ("Tops", ("T-Shirt", "Shirt", "Hoodie", "Sweater"), 29),
        ("Bottoms", ("Jeans", "Chinos", "Shorts", "Skirt"), 49),
        ("Shoes", ("Sneakers", "Boots", "Sandals", "Loafers"), 79),
        ("Outerwear", ("Jacket", "Raincoat", "Parka"), 119),
        ("Bags & Accessories", ("Belt", "Scarf", "Cap", "Backpack"), 25))),
    ("Beauty", 10, ("Glowbay", "Lumière", "Purelle", "Velvetine"), (
        ("Skincare", ("Moisturiser", "Serum", "Cleanser", "Sunscreen"), 22),
        ("Makeup", ("Lipstick", "Mascara", "Foundation"), 16),
        ("Fragrance", ("Eau de Parfum", "Eau de Toilette"), 65),
        ("Hair Care", ("Shampoo", "Conditioner", "Hair Dryer"), 14))),
    ("Sports & Outdoors", 10, ("Peakline", "Stridewell", "Trailborn", "Apexa"), (
        ("Fitness", ("Yoga Mat", "Dumbbell Set", "Resistance Bands"), 35),
        ("Cycling", ("Bike Helmet", "Bike Light", "Cycling Jersey"), 49),
        ("Camping", ("Tent", "Sleeping Bag", "Camping Stove"), 89),
        ("Running", ("Running Shoes", "Running Jacket", "Sports Watch"), 99))),
    ("Books", 8, ("Ember Press", "Quill House", "Larkspur Books"), (
        ("Fiction", ("Novel", "Thriller", "Short Stories"), 14),
        ("Non-Fiction", ("Biography", "Cookbook", "History Book"), 19),
        ("Children's Books", ("Picture Book", "Activity Book"), 9))),
    ("Toys & Games", 7, ("Brickly", "Playfox", "Wonderbox"), (
        ("Building Sets", ("Building Set", "Construction Kit"), 39),
        ("Board Games", ("Board Game", "Card Game", "Puzzle"), 24),
        ("Dolls & Figures", ("Action Figure", "Doll", "Plush Toy"), 19))),
    ("Grocery", 6, ("Harvest Lane", "Bean & Leaf", "Olivara"), (
        ("Coffee & Tea", ("Coffee Beans", "Ground Coffee", "Green Tea"), 11),
        ("Snacks", ("Granola", "Dark Chocolate", "Mixed Nuts"), 6),
        ("Pantry", ("Olive Oil", "Pasta", "Spice Set"), 8))),
    ("Pet Supplies", 5, ("Pawsome", "Whisker & Co"), (
        ("Dog", ("Dog Food", "Dog Bed", "Dog Leash"), 32),
        ("Cat", ("Cat Food", "Cat Tree", "Cat Litter"), 27))),
)  # fmt: skip
ADJECTIVES = (
    "Classic",
    "Essential",
    "Pro",
    "Ultra",
    "Eco",
    "Compact",
    "Premium",
    "Everyday",
    "Lite",
    "Max",
    "Original",
)
PRICE_SIGMA = 0.45

# Seasonality of orders and sessions: month (Jan..Dec), weekday (Mon..Sun) and hour of day (UTC, all markets blended).
MONTH_FACTOR = (0.88, 0.82, 0.92, 0.93, 0.95, 0.90, 0.95, 0.93, 0.95, 1.0, 1.25, 1.45)
WEEKDAY_FACTOR = (1.06, 1.0, 0.98, 0.97, 0.93, 0.92, 1.12)
HOUR_FACTOR = (0.35, 0.25, 0.18, 0.14, 0.13, 0.16, 0.25, 0.42, 0.62, 0.78, 0.88, 0.95,
               1.0, 0.98, 0.95, 0.95, 0.98, 1.05, 1.15, 1.3, 1.38, 1.3, 1.0, 0.6)  # fmt: skip
ANNUAL_GROWTH = 0.12


def ascii_fold(text: str) -> str:
    """A name as it appears in an email address: accents dropped, lower case, letters only."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    return "".join(c for c in decomposed.lower() if "a" <= c <= "z")


def slug(text: str) -> str:
    """A category as it appears in a URL path."""
    folded = unicodedata.normalize("NFKD", text.lower().replace("&", "and").replace("'", ""))
    return "-".join("".join(c if "a" <= c <= "z" or c.isdigit() else " " for c in folded).split())


def special_day_factor(day: date) -> float:
    """Sales events and holidays on top of the month: Black Friday to Cyber Monday, Christmas, mid-July deals."""
    if day.month == 11:
        thanksgiving = 22 + (3 - date(day.year, 11, 1).weekday()) % 7
        offset = day.day - thanksgiving
        return {0: 1.3, 1: 2.6, 2: 1.7, 3: 1.6, 4: 2.2}.get(offset, 1.0)
    if day.month == 12:
        if day.day <= 18:
            return 1.2
        return {24: 0.7, 25: 0.55, 26: 1.25, 31: 0.8}.get(day.day, 1.0)
    if day.month == 7 and 9 <= day.day <= 10:
        return 1.6
    if day.month == 1 and day.day == 1:
        return 0.7
    return 1.0


def unit_hash(seed: int, label: str) -> float:
    """A deterministic uniform number in [0, 1) for a seed and label, computed on the driver."""
    digest = hashlib.blake2b(f"{seed}:{label}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def hourly_weights(start: date, days: int, seed: int) -> list[float]:
    """Relative volume of every hour of the window: trend * month * weekday * special day * hour, with day noise."""
    weights: list[float] = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        noise = 0.92 + 0.16 * unit_hash(seed, f"day:{day.isoformat()}")
        day_weight = (
            (1.0 + ANNUAL_GROWTH * offset / 365.0)
            * MONTH_FACTOR[day.month - 1]
            * WEEKDAY_FACTOR[day.weekday()]
            * special_day_factor(day)
            * noise
        )
        weights.extend(day_weight * hour for hour in HOUR_FACTOR)
    return weights


def slot_bounds(count: int, weights: Sequence[float]) -> list[tuple[int, int, int]]:
    """(slot, first index, end index) of the non-empty slots when ``count`` rows are spread over the weights."""
    total = math.fsum(weights)
    bounds, cumulative, low = [], 0.0, 0
    for slot, weight in enumerate(weights):
        cumulative += weight
        high = count if slot == len(weights) - 1 else min(count, round(count * cumulative / total))
        if high > low:
            bounds.append((slot, low, high))
        low = max(low, high)
    return bounds


def pick_table(weights: Sequence[float], size: int = PICK_TABLE_SIZE) -> list[int]:
    """Indexes repeated in proportion to their weights: a uniform draw from the table is a weighted draw."""
    total = math.fsum(weights)
    table: list[int] = []
    cumulative = 0.0
    for index, weight in enumerate(weights):
        cumulative += weight
        table.extend([index] * (round(size * cumulative / total) - len(table)))
    return table


def sql_literal(value: Any) -> str:
    """A Python constant (nested lists of str, int, float, bool) as Spark SQL literal text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) + "D"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list | tuple):
        return "array(" + ", ".join(sql_literal(v) for v in value) + ")"
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def partitions_for(spark: SparkSession, rows: int, rows_per_task: int = ROWS_PER_TASK) -> int:
    """Tasks for ``rows`` rows: one for small data (one file per date partition), all cores for mid sizes."""
    return max(1, math.ceil(rows / rows_per_task), min(spark.sparkContext.defaultParallelism, rows // 50_000))


@dataclass(frozen=True)
class Plan:
    """The sizes and window of one generated lake."""

    seed: int
    orders: int
    customers: int
    products: int
    bad_share: float
    start: date
    days: int

    @property
    def start_ms(self) -> int:
        return (self.start - date(1970, 1, 1)).days * DAY_MS

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.days * DAY_MS

    @property
    def existing_customers(self) -> int:
        return max(1, min(self.customers, round(self.customers * EXISTING_CUSTOMER_SHARE)))

    @property
    def browse_sessions(self) -> int:
        return round(self.orders * BROWSE_SESSIONS_PER_ORDER)


@dataclass
class GeneratedLake:
    """What ``write_lake`` wrote: rows per dataset path, deliberately bad rows per kind, and the plan."""

    plan: Plan
    rows: dict[str, int] = field(default_factory=dict)
    bad_rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> (files, bytes)
    seconds: float = 0.0


def stage(frame: DataFrame, **columns: str) -> DataFrame:
    """The frame plus columns given as SQL expressions, in one call into the JVM.

    A later stage that reads such a column several times reads the value, not the expression behind it: Spark does not
    merge two projections when that would repeat a costly expression, which keeps the generated code small.
    """
    return frame.selectExpr("*", *[f"{expression} AS {name}" for name, expression in columns.items()])


def at(array: str, index: str) -> str:
    """The element of an array expression at a zero-based index."""
    return f"element_at({array}, CAST(({index}) + 1 AS INT))"


def case(*branches: tuple[str, str], otherwise: str = "NULL") -> str:
    """A CASE expression from (condition, value) pairs."""
    return "CASE " + " ".join(f"WHEN {c} THEN {v}" for c, v in branches) + f" ELSE {otherwise} END"


def cents(amount: str, precision: int = 10) -> str:
    """An integer amount of cents as an exact decimal with two places."""
    return f"CAST(CAST({amount} AS DECIMAL(18,0)) * 0.01BD AS DECIMAL({precision},2))"


def price_step(median: float) -> int:
    """The price-point step of a subcategory: whole dollars below $100, fives below $1,000, tens above."""
    return 1 if median < 100 else 5 if median < 1000 else 10


def shape(dataset: LakeDataset, columns: dict[str, str], *extra: str) -> list[str]:
    """The select list of a dataset: its columns in schema order, cast to the schema's types, then ``extra``."""
    mismatch = set(dataset.columns) ^ set(columns)
    if mismatch:
        raise ValueError(f"{dataset.path}: columns do not match the schema: {sorted(mismatch)}")
    typed = [f"CAST({columns[f.name]} AS {f.dataType.simpleString()}) AS {f.name}" for f in dataset.schema.fields]
    return [*typed, *extra]


UNIT = f"{2.0**-53!r}D"
SUBCATEGORIES = [(ci, *sub) for ci, category in enumerate(CATEGORIES) for sub in category[3]]


class Generator:
    """SQL expressions of the lake for one plan; every random draw is ``xxhash64`` of a per-draw salt and a row key."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.customer_width = max(9, len(str(2 * plan.customers)))
        self.product_width = max(7, len(str(2 * plan.products)))
        # Any multiplier coprime with the catalogue size permutes it.
        self.product_step = next(s for s in (2654435761, 2246822519, 3266489917) if plan.products % s)

    # --- randomness -------------------------------------------------------------------------------------------

    def salt(self, name: str) -> int:
        """A 63-bit key per (seed, draw), so each draw is independent of the others."""
        digest = hashlib.blake2b(f"{self.plan.seed}:{name}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") >> 1

    def h(self, name: str, *keys: str) -> str:
        """A 64-bit hash of the row key for the named draw."""
        return f"xxhash64({self.salt(name)}L, {', '.join(keys)})"

    def u(self, name: str, *keys: str) -> str:
        """A uniform draw in [0, 1)."""
        return f"(CAST(shiftrightunsigned({self.h(name, *keys)}, 11) AS DOUBLE) * {UNIT})"

    def below(self, name: str, n: int, *keys: str) -> str:
        """A uniform integer in [0, n)."""
        return f"pmod({self.h(name, *keys)}, {n}L)"

    def pick(self, weights: Sequence[float], name: str, *keys: str) -> str:
        """A weighted index: a uniform position in a table holding each index in proportion to its weight."""
        table = pick_table(weights)
        return at(sql_literal(table), f"floor({self.u(name, *keys)} * {len(table)})")

    def choice(self, values: str, name: str, *keys: str) -> str:
        """A uniform element of an array expression."""
        return at(values, f"floor({self.u(name, *keys)} * size({values}))")

    @staticmethod
    def uuid(hi: str, lo: str) -> str:
        """A version-4-shaped UUID from two 64-bit hash columns."""
        groups = [
            f"lpad(hex(shiftrightunsigned({hi}, 32)), 8, '0')",
            f"lpad(hex(shiftrightunsigned({hi}, 16) & 65535), 4, '0')",
            f"concat('4', lpad(hex({hi} & 4095), 3, '0'))",
            f"hex((shiftrightunsigned({lo}, 48) & 16383) | 32768)",  # the RFC 4122 variant bits
            f"lpad(hex({lo} & 281474976710655), 12, '0')",
        ]
        return f"lower(concat_ws('-', {', '.join(groups)}))"

    # --- identifiers ------------------------------------------------------------------------------------------

    def customer_id(self, index: str) -> str:
        return f"concat('C', lpad(CAST({index} AS STRING), {self.customer_width}, '0'))"

    def product_id(self, index: str) -> str:
        return f"concat('P', lpad(CAST({index} AS STRING), {self.product_width}, '0'))"

    @staticmethod
    def order_id(index: str) -> str:
        return f"concat('O', lpad(CAST({index} AS STRING), 10, '0'))"

    # --- what orders and events need to know about customers and products, without a join ---------------------

    def country_of(self, customer: str) -> str:
        """The country index of a customer (also of unknown customers, whose orders still ship somewhere)."""
        return self.pick([c.weight for c in COUNTRIES], "customer:country", customer)

    def with_customer(self, frame: DataFrame, name: str, key: str, ts_ms: str, out: str) -> DataFrame:
        """Add a power-law draw among the customers signed up by ``ts_ms``: older customers buy more.

        Activity over customer rank x in [0, 1) has density proportional to (x + eps)^-ACTIVITY_EXPONENT, sampled by
        inverting its distribution function; eps keeps the most active customer to a plausible multiple of the average.
        """
        p = self.plan
        existing = p.existing_customers
        if p.customers == existing:
            signed_up = f"{float(p.customers)!r}D"
        else:
            rate = (p.customers - existing) / (p.end_ms - p.start_ms)
            growth = f"floor(CAST({ts_ms} - {p.start_ms}L AS DOUBLE) * {rate!r}D)"
            signed_up = f"least({float(p.customers)!r}D, {float(existing)!r}D + {growth})"
        b = 1.0 - ACTIVITY_EXPONENT
        frame = stage(frame, _signed_up=signed_up)
        eps = f"({ACTIVITY_EPS_CUSTOMERS!r}D / _signed_up)"
        low, high = f"pow({eps}, {b!r}D)", f"pow({eps} + 1.0D, {b!r}D)"
        fraction = f"pow({low} + {self.u(name, key)} * ({high} - {low}), {1.0 / b!r}D) - {eps}"
        rank = f"CAST(least(_signed_up - 1.0D, greatest(0.0D, floor(({fraction}) * _signed_up))) AS BIGINT)"
        return stage(frame, **{out: rank}).drop("_signed_up")

    def popular_product(self, name: str, *keys: str) -> str:
        """A product drawn by popularity; ranks are scattered over the catalogue by a fixed permutation."""
        p = self.plan
        rank = f"CAST(floor(pow({self.u(name, *keys)}, {POPULARITY_POWER!r}D) * {p.products}) AS BIGINT)"
        offset = self.salt("product:offset") % p.products
        return f"pmod({rank} * {self.product_step}L + {offset}L, {p.products}L)"

    def subcategory_of(self, product: str) -> str:
        weights = [CATEGORIES[ci][1] / len(CATEGORIES[ci][3]) for ci, *_ in SUBCATEGORIES]
        return self.pick(weights, "product:subcategory", product)

    def price_cents(self, product: str) -> str:
        """The catalogue price in US cents: log-normal around the subcategory's median, on a .99 price point."""
        sub = self.subcategory_of(product)
        # The sum of three uniforms, centred and scaled, is a cheap stand-in for a standard normal.
        z = " + ".join(self.u(f"product:z{i}", product) for i in (1, 2, 3))
        medians = sql_literal([float(median) / price_step(median) for *_, median in SUBCATEGORIES])
        steps = sql_literal([price_step(median) for *_, median in SUBCATEGORIES])
        points = f"round({at(medians, sub)} * exp(({z} - 1.5D) * {2 * PRICE_SIGMA!r}D))"
        return f"(greatest(1L, CAST({points} AS BIGINT) * {at(steps, sub)}) * 100 - 1)"

    def local_cents(self, product: str, country: str) -> str:
        """The price of a product in the country's currency, on a local .99 price point."""
        fx = sql_literal([c.fx for c in COUNTRIES])
        local = f"CAST(round({self.price_cents(product)} * {at(fx, country)} / 100.0D) AS BIGINT)"
        return f"(greatest(1L, {local}) * 100 - 1)"

    def line(self, order: str, line_no: int) -> tuple[str, str]:
        """(product index, quantity) of one order line; a ``bad_share`` of lines name a product not in the catalogue."""
        p = self.plan
        key = (order, str(line_no))
        bad = f"{self.u('line:bad', *key)} < {p.bad_share!r}D"
        unknown = f"{p.products}L + {self.below('line:unknown', p.products, *key)}"
        product = f"CASE WHEN {bad} THEN {unknown} ELSE {self.popular_product('line:product', *key)} END"
        quantity = f"CAST({self.pick([80, 13, 4, 1.5, 1, 0.5], 'line:quantity', *key)} + 1 AS INT)"
        return product, quantity

    def with_session(self, frame: DataFrame, name: str, key: str) -> DataFrame:
        """Add what a session shares between an order and its clickstream: id, device, user agent, IP address."""
        frame = stage(
            frame,
            _hi=self.h(name + ":id_hi", key),
            _lo=self.h(name + ":id_lo", key),
            _ip=self.h(name + ":ip", key),
            _ip6=self.h(name + ":ip6", key),
            _device=self.pick([w for _, w in DEVICES], name + ":device", key),
        )
        first = at(sql_literal(IPV4_FIRST_OCTETS), f"pmod(_ip, {len(IPV4_FIRST_OCTETS)})")
        # The last octet is 1..254: never a network or broadcast address.
        octets = [first, "shiftrightunsigned(_ip, 8) & 255", "shiftrightunsigned(_ip, 16) & 255"]
        octets.append("(shiftrightunsigned(_ip, 24) & 253) + 1")
        ipv4 = "concat_ws('.', " + ", ".join(f"CAST({o} AS STRING)" for o in octets) + ")"
        groups = [f"shiftrightunsigned({h}, {s}) & 65535" for h in ("_ip", "_ip6") for s in (16, 32, 48)]
        groups.append("_ip6 & 65535")
        prefix = at(sql_literal(IPV6_PREFIXES), f"pmod(_ip, {len(IPV6_PREFIXES)})")
        ipv6 = f"concat_ws(':', {prefix}, " + ", ".join(f"lower(hex({g}))" for g in groups) + ")"
        agents = at(sql_literal([list(USER_AGENTS[d]) for d, _ in DEVICES]), "_device")
        return stage(
            frame,
            session_id=self.uuid("_hi", "_lo"),
            device_type=at(sql_literal([d for d, _ in DEVICES]), "_device"),
            user_agent=self.choice(agents, name + ":agent", key),
            ip_address=f"CASE WHEN {self.u(name + ':v6', key)} < {IPV6_SHARE!r}D THEN {ipv6} ELSE {ipv4} END",
        ).drop("_hi", "_lo", "_ip", "_ip6", "_device")

    # --- datasets ---------------------------------------------------------------------------------------------

    def customers(self, spark: SparkSession) -> DataFrame:
        """One row per customer; the first ``existing_customers`` signed up in the three years before the window."""
        p = self.plan
        frame = spark.range(0, p.customers, 1, partitions_for(spark, p.customers, 2 * ROWS_PER_TASK))
        frame = frame.withColumnRenamed("id", "cid")
        frame = stage(frame, _country=self.country_of("cid"))
        bad_kind = at(sql_literal(CUSTOMER_BAD_KINDS), self.below("customer:bad_kind", 2, "cid"))
        frame = stage(
            frame,
            _region=at(sql_literal([REGION_NAMES.index(c.region) for c in COUNTRIES]), "_country"),
            _first_i=self.below("customer:first", len(REGIONS["en"]["first"]), "cid"),
            _last_i=self.below("customer:last", len(REGIONS["en"]["last"]), "cid"),
            _bad=f"CASE WHEN {self.u('customer:bad', 'cid')} < {p.bad_share!r}D THEN {bad_kind} END",
        )

        def pool(key: str, fold: bool = False) -> str:
            names = [[ascii_fold(n) if fold else n for n in REGIONS[r][key]] for r in REGION_NAMES]
            return at(sql_literal(names), "_region")

        global_domain = at(
            sql_literal([d for d, _ in GLOBAL_EMAIL_DOMAINS]),
            self.pick([w for _, w in GLOBAL_EMAIL_DOMAINS], "customer:domain", "cid"),
        )
        domains = at(sql_literal([list(c.email_domains) for c in COUNTRIES]), "_country")
        local_domain = self.choice(domains, "customer:local_domain", "cid")
        frame = stage(
            frame,
            first_name=at(pool("first"), "_first_i"),
            last_name=at(pool("last"), "_last_i"),
            _first=at(pool("first", fold=True), "_first_i"),
            _last=at(pool("last", fold=True), "_last_i"),
            # The customer number keeps every address unique whatever the name pattern.
            _number="CAST(cid + 1 AS STRING)",
            _domain=f"CASE WHEN {self.u('customer:domain_kind', 'cid')} < 0.72D THEN {global_domain} "
            f"ELSE {local_domain} END",
        )
        pattern = self.below("customer:email_pattern", 5, "cid")
        frame = stage(
            frame,
            _local=f"CASE {pattern} WHEN 0 THEN concat(_first, '.', _last, _number) "
            "WHEN 1 THEN concat(_first, _last, _number) "
            "WHEN 2 THEN concat(substring(_first, 1, 1), '.', _last, _number) "
            "WHEN 3 THEN concat(_first, '_', _last, _number) "
            "ELSE concat(_last, '.', _first, _number) END",
        )
        malformed = (
            f"CASE {self.below('customer:broken', 5, 'cid')} "
            "WHEN 0 THEN concat(_local, _domain) "  # the @ is missing
            "WHEN 1 THEN concat(_local, '@@', _domain) "
            "WHEN 2 THEN concat(_local, '@', substring_index(_domain, '.', 1)) "  # no top-level domain
            "WHEN 3 THEN concat(_first, ' ', _last, _number, '@', _domain) "
            f"ELSE concat(_local, '@', regexp_replace(_domain, {sql_literal(chr(92) + '.')}, ',')) END"
        )
        email = case(
            ("_bad = 'null_email'", "CAST(NULL AS STRING)"),
            ("_bad = 'malformed_email'", malformed),
            otherwise="concat(_local, '@', _domain)",
        )

        phone_hash = self.h("customer:phone", "cid")
        rest = at(sql_literal([c.phone_digits for c in COUNTRIES]), "_country")
        # The subscriber number never starts with 0 or 1, whatever follows the prefix.
        digits = f"lpad(CAST(pmod(shiftrightunsigned({phone_hash}, 3), 1000000000000L) AS STRING), 12, '0')"
        subscriber = f"concat(CAST(pmod({phone_hash}, 8L) + 2 AS STRING), substring({digits}, 1, {rest} - 1))"
        prefixes = at(sql_literal([list(c.phone_prefixes) for c in COUNTRIES]), "_country")
        phone = (
            f"concat('+', {at(sql_literal([c.phone_cc for c in COUNTRIES]), '_country')}, "
            f"{self.choice(prefixes, 'customer:prefix', 'cid')}, {subscriber})"
        )

        cities = at(sql_literal([[name for name, _ in c.cities] for c in COUNTRIES]), "_country")
        prefixes = at(sql_literal([[prefix for _, prefix in c.cities] for c in COUNTRIES]), "_country")
        region_template = sql_literal([STREET_TEMPLATE[r] for r in REGION_NAMES])
        frame = stage(
            frame,
            # Bigger cities come first in each list, so a skewed draw favours them.
            _city=f"floor(pow({self.u('customer:city', 'cid')}, 1.7D) * size({cities}))",
            _pattern=at(sql_literal([c.postal_pattern for c in COUNTRIES]), "_country"),
            _postal=self.h("customer:postal", "cid"),
            _template=at(region_template, "_region"),
            _street=self.choice(at(sql_literal([list(REGIONS[r]["street"]) for r in REGION_NAMES]), "_region"),
                                "customer:street", "cid"),
            _word=self.choice(at(sql_literal([list(REGIONS[r]["street_word"]) for r in REGION_NAMES]), "_region"),
                              "customer:street_word", "cid"),
            _house=f"CAST(floor(pow({self.u('customer:house', 'cid')}, 2.0D) * 180) + 1 AS STRING)",
        )  # fmt: skip
        letters = sql_literal(list("ABDEFGHJLNPRSTUWXYZ"))
        characters = []
        for position in range(1, 8):
            char, bits = f"substring(_pattern, {position}, 1)", f"shiftrightunsigned(_postal, {5 * position}) & 31"
            characters.append(
                f"CASE {char} WHEN '#' THEN CAST(pmod({bits}, 10) AS STRING) "
                f"WHEN '@' THEN {at(letters, f'pmod({bits}, 19)')} ELSE {char} END"
            )
        postal = f"concat({at(prefixes, '_city')}, {', '.join(characters)})"
        address = (
            "CASE _template WHEN 0 THEN concat_ws(' ', _house, _street, _word) "
            "WHEN 1 THEN concat(_street, _word, ' ', _house) "
            "WHEN 2 THEN concat_ws(' ', _house, _word, _street) "
            "ELSE concat(_word, ' ', _street, ', ', _house) END"
        )

        existing = p.existing_customers
        history_ms = 3 * 365 * DAY_MS
        signup = f"({p.start_ms - history_ms}L + CAST(CAST(cid AS DOUBLE) * {history_ms / existing!r}D AS BIGINT))"
        if p.customers > existing:
            # Late sign-ups are exactly the customers ``with_customer`` has made eligible by then (minus a margin).
            spacing = (p.end_ms - p.start_ms) / (p.customers - existing)
            during = f"{p.start_ms}L + CAST(floor(CAST(cid - {existing - 1} AS DOUBLE) * {spacing!r}D) AS BIGINT)"
            signup = f"CASE WHEN cid < {existing} THEN {signup} ELSE {during} END"
        jitter = f"CAST({self.u('customer:signup', 'cid')} * {min(6 * HOUR_MS, history_ms / existing)!r}D AS BIGINT)"
        frame = stage(frame, _created=f"{signup} - 1000L - {jitter}")
        updated = (
            f"_created + CAST({self.u('customer:updated', 'cid')} * CAST({p.end_ms}L - _created AS DOUBLE) AS BIGINT)"
        )
        age_days = f"CAST(6574.5D + pow({self.u('customer:age', 'cid')}, 1.4D) * 22645.5D AS INT)"  # 18 to 80 years
        birth = f"date_from_unix_date({p.start_ms // DAY_MS} - {age_days})"

        columns = {
            "customer_id": self.customer_id("cid"),
            "email": email,
            "first_name": "first_name",
            "last_name": "last_name",
            "phone": f"CASE WHEN {self.u('customer:has_phone', 'cid')} < 0.92D THEN {phone} END",
            "date_of_birth": f"CASE WHEN {self.u('customer:has_dob', 'cid')} < 0.96D THEN {birth} END",
            "country": at(sql_literal([c.iso for c in COUNTRIES]), "_country"),
            "city": at(cities, "_city"),
            "postal_code": postal,
            "street_address": address,
            "created_at": "timestamp_millis(_created)",
            "updated_at": f"timestamp_millis({updated})",
            "marketing_opt_in": f"{self.u('customer:opt_in', 'cid')} < 0.42D",
        }
        return frame.selectExpr(*shape(CUSTOMERS, columns, "_bad"))

    def products(self, spark: SparkSession) -> DataFrame:
        """The catalogue: names from brand, adjective and noun; prices log-normal per subcategory; cost below price."""
        p = self.plan
        frame = spark.range(0, p.products, 1, partitions_for(spark, p.products)).withColumnRenamed("id", "pid")
        frame = stage(frame, _sub=self.subcategory_of("pid"), _price=self.price_cents("pid"))
        frame = stage(
            frame,
            _category=at(sql_literal([ci for ci, *_ in SUBCATEGORIES]), "_sub"),
            _stock=f"CASE WHEN {self.u('product:out', 'pid')} < 0.07D THEN 0 "
            f"ELSE floor(pow({self.u('product:stock', 'pid')}, 2.0D) * 500) + 1 END",
        )
        frame = stage(
            frame,
            brand=self.choice(at(sql_literal([list(c[2]) for c in CATEGORIES]), "_category"), "product:brand", "pid"),
        )
        noun = self.choice(
            at(sql_literal([list(nouns) for _, _, nouns, _ in SUBCATEGORIES]), "_sub"), "product:noun", "pid"
        )
        adjective = self.choice(sql_literal(ADJECTIVES), "product:adjective", "pid")
        model = (
            f"concat({at(sql_literal(list('AXSMZ')), self.below('product:model_letter', 5, 'pid'))}, "
            f"CAST({self.below('product:model', 90, 'pid')} * 10 + 100 AS STRING))"
        )
        has_model = f"{self.u('product:has_model', 'pid')} < 0.5D"
        history = 4 * 365 * DAY_MS
        created = f"{p.start_ms - history}L + CAST({self.u('product:created', 'pid')} * {history - DAY_MS}D AS BIGINT)"
        # Margins of 20-70%: cost is 30-80% of the price, so always below it.
        cost = f"CAST(floor(_price * (0.3D + {self.u('product:margin', 'pid')} * 0.5D)) AS BIGINT)"
        columns = {
            "product_id": self.product_id("pid"),
            "name": f"concat_ws(' ', brand, {adjective}, {noun}, CASE WHEN {has_model} THEN {model} END)",
            "category": at(sql_literal([c[0] for c in CATEGORIES]), "_category"),
            "subcategory": at(sql_literal([name for _, name, _, _ in SUBCATEGORIES]), "_sub"),
            "brand": "brand",
            "price": cents("_price"),
            "cost": cents(cost),
            "in_stock": "_stock > 0",
            "stock_quantity": "_stock",
            "created_at": f"timestamp_millis({created})",
        }
        return frame.selectExpr(*shape(PRODUCTS, columns, "CAST(NULL AS STRING) AS _bad"))

    def timeline(self, spark: SparkSession, count: int, name: str) -> DataFrame:
        """``count`` rows (``idx``, ``ts_ms``) spread over the window by the seasonal weights, in time order."""
        p = self.plan
        bounds = slot_bounds(count, hourly_weights(p.start, p.days, p.seed))
        slots = spark.createDataFrame(
            bounds, StructType([StructField(n, LongType(), False) for n in ("slot", "low", "high")])
        )
        partitions = min(p.days * 24, partitions_for(spark, count))
        # A range of slot numbers keeps time order across partitions; the broadcast join only attaches the bounds.
        frame = spark.range(0, p.days * 24, 1, partitions).withColumnRenamed("id", "slot")
        frame = frame.join(F.broadcast(slots), "slot").selectExpr(
            "slot", "low", "high", "explode(sequence(low, high - 1)) AS idx"
        )
        # Rows of a slot are evenly spaced with jitter, so indexes increase with time.
        within = (
            f"(CAST(idx - low AS DOUBLE) + {self.u(name + ':jitter', 'idx')} * 0.999D) / CAST(high - low AS DOUBLE)"
        )
        return frame.selectExpr(
            "idx", f"{p.start_ms}L + slot * {HOUR_MS}L + CAST(floor({within} * {HOUR_MS}D) AS BIGINT) AS ts_ms"
        )

    def order_base(self, spark: SparkSession) -> DataFrame:
        """One row per order with what orders, lines and the checkout clickstream share (no duplicates yet).

        Each line's product and quantity is a column of its own (null past the order's last line), so the order total,
        the order lines and the add-to-cart events all read the same values instead of recomputing them.
        """
        p = self.plan
        frame = self.timeline(spark, p.orders, "order").selectExpr("idx AS order_idx", "ts_ms AS true_ms")
        bad_kind = at(sql_literal(ORDER_BAD_KINDS), self.below("order:bad_kind", len(ORDER_BAD_KINDS), "order_idx"))
        frame = stage(
            frame,
            bad_kind=f"CASE WHEN {self.u('order:bad', 'order_idx')} < {p.bad_share!r}D THEN {bad_kind} END",
            lines=f"CAST({self.pick([55, 25, 10, 5, 2.5, 1.2, 0.8, 0.5], 'order:lines', 'order_idx')} + 1 AS INT)",
        )
        frame = self.with_customer(frame, "order:customer", "order_idx", "true_ms", "_customer")
        unknown = f"{p.customers}L + {self.below('order:unknown', p.customers, 'order_idx')}"
        frame = stage(frame, _buyer=f"CASE WHEN bad_kind = 'orphan_customer' THEN {unknown} ELSE _customer END")
        # A few orders ship abroad (gifts); prices and currency follow the destination storefront.
        abroad = f"{self.u('order:abroad', 'order_idx')} < 0.03D"
        destination = self.pick([c.weight for c in COUNTRIES], "order:destination", "order_idx")
        line_columns = {}
        for j in range(1, MAX_LINES + 1):
            product, quantity = self.line("order_idx", j)
            line_columns[f"product_{j}"] = f"CASE WHEN lines >= {j} THEN {product} END"
            line_columns[f"quantity_{j}"] = f"CASE WHEN lines >= {j} THEN {quantity} END"
        frame = stage(
            frame,
            customer_id=self.customer_id("_buyer"),
            country_idx=f"CASE WHEN {abroad} THEN {destination} ELSE {self.country_of('_buyer')} END",
            **line_columns,
        ).drop("_customer", "_buyer")
        return self.with_session(frame, "order:session", "order_idx")

    @staticmethod
    def line_array(prefix: str) -> str:
        return "array(" + ", ".join(f"{prefix}_{j}" for j in range(1, MAX_LINES + 1)) + ")"

    def orders(self, base: DataFrame) -> DataFrame:
        """Orders: totals are the sum of their lines; bad rows are negative, in the future, duplicated or orphaned."""
        p = self.plan
        terms = [
            f"CASE WHEN lines >= {j} THEN quantity_{j} * {self.local_cents(f'product_{j}', 'country_idx')} ELSE 0 END"
            for j in range(1, MAX_LINES + 1)
        ]
        future_ms = p.end_ms + FUTURE_OFFSET_DAYS * DAY_MS
        future = f"{future_ms}L + CAST({self.u('order:future', 'order_idx')} * {30.0 * DAY_MS!r}D AS BIGINT)"
        frame = stage(
            base,
            _total=" + ".join(terms),
            _order_ms=f"CASE WHEN bad_kind = 'future_timestamp' THEN {future} ELSE true_ms END",
            _age=f"CAST({p.end_ms}L - true_ms AS DOUBLE) / {float(DAY_MS)!r}D",
            _draw=self.u("order:status", "order_idx"),
            _after=self.u("order:after_delivery", "order_idx"),
        )
        status = case(
            ("_draw < 0.01D", "'payment_failed'"),
            ("_draw < 0.045D", "'cancelled'"),
            ("_age < 0.5D", "'pending'"),
            ("_age < 2.0D", "'processing'"),
            ("_age < 6.0D", "'shipped'"),
            ("_after < 0.05D", "'returned'"),
            ("_after < 0.065D", "'refunded'"),
            otherwise="'delivered'",
        )
        global_method = at(
            sql_literal([m for m, _ in PAYMENT_METHODS]),
            self.pick([w for _, w in PAYMENT_METHODS], "order:payment", "order_idx"),
        )
        local_share = at(sql_literal([c.local_payment_share for c in COUNTRIES]), "country_idx")
        local_method = at(sql_literal([c.local_payment for c in COUNTRIES]), "country_idx")
        local = f"{self.u('order:local_payment', 'order_idx')} < {local_share}"
        method = f"CASE WHEN {local} THEN {local_method} ELSE {global_method} END"
        columns = {
            "order_id": self.order_id("order_idx"),
            "customer_id": "customer_id",
            "order_ts": "timestamp_millis(_order_ms)",
            "status": status,
            "payment_method": method,
            "currency": at(sql_literal([c.currency for c in COUNTRIES]), "country_idx"),
            "total_amount": cents("CASE WHEN bad_kind = 'negative_amount' THEN -_total ELSE _total END", 12),
            "shipping_country": at(sql_literal([c.iso for c in COUNTRIES]), "country_idx"),
            "ip_address": "ip_address",
            "device_type": "device_type",
            "session_id": "session_id",
            "order_date": f"date_from_unix_date(CAST(floor(_order_ms / {DAY_MS}) AS INT))",
        }
        copies = "explode(CASE WHEN bad_kind = 'duplicate_id' THEN array(0, 1) ELSE array(0) END) AS _copy"
        return frame.selectExpr(*shape(ORDERS, columns, "bad_kind AS _bad", copies))

    def order_items(self, base: DataFrame) -> DataFrame:
        """Order lines, one per line number; a few name products missing from the catalogue."""
        frame = base.selectExpr(
            "order_idx",
            "country_idx",
            f"{self.line_array('product')} AS products",
            f"{self.line_array('quantity')} AS quantities",
            "explode(sequence(1, lines)) AS line_no",
        )
        frame = stage(frame, product="element_at(products, line_no)", quantity="element_at(quantities, line_no)")
        columns = {
            "order_id": self.order_id("order_idx"),
            "line_no": "line_no",
            "product_id": self.product_id("product"),
            "quantity": "quantity",
            "unit_price": cents(self.local_cents("product", "country_idx")),
        }
        unknown = f"CASE WHEN product >= {self.plan.products} THEN 'orphan_product' END AS _bad"
        return frame.selectExpr(*shape(ORDER_ITEMS, columns, unknown))

    def checkout_events(self, base: DataFrame) -> DataFrame:
        """The session behind each order: a landing view, one add-to-cart per line, then checkout at the order time."""
        frame = base.selectExpr(
            "order_idx",
            "true_ms",
            "lines",
            "customer_id",
            "session_id",
            "user_agent",
            "ip_address",
            f"{self.line_array('product')} AS products",
            "explode(sequence(0, lines + 1)) AS pos",
        )
        landing_product = f"{self.u('checkout:landing', 'order_idx')} < 0.5D"
        product = self.product_id("element_at(products, greatest(pos, 1))")
        frame = stage(
            frame,
            _product=f"CASE WHEN pos > 0 AND pos <= lines THEN {product} "
            f"WHEN pos = 0 AND {landing_product} THEN {product} END",
        )
        event_type = case(
            ("pos = lines + 1", "'checkout'"),
            ("pos > 0", "'add_to_cart'"),
            ("_product IS NOT NULL", "'product_view'"),
            otherwise="'page_view'",
        )
        url = case(
            ("pos = lines + 1", f"'{SHOP_URL}/checkout'"),
            ("_product IS NOT NULL", f"concat('{SHOP_URL}/p/', _product)"),
            otherwise=self.landing_url("checkout:landing_url", "order_idx"),
        )
        # Events are spaced by a per-session think time and end with checkout at the moment of the order.
        gap = f"CAST(20000.0D + {self.u('checkout:gap', 'order_idx')} * 100000.0D AS BIGINT)"
        return self.events_frame(frame, event_type, url, f"true_ms - CAST(lines + 1 - pos AS BIGINT) * {gap}")

    def browse_events(self, spark: SparkSession) -> DataFrame:
        """Sessions without an order: mostly anonymous, a landing page then product views, some abandoned carts."""
        p = self.plan
        frame = self.timeline(spark, p.browse_sessions, "browse").selectExpr("idx AS session_idx", "ts_ms AS start_ms")
        frame = stage(
            frame, events=f"CAST({self.pick([35, 25, 17, 11, 7, 5], 'browse:events', 'session_idx')} + 1 AS INT)"
        )
        frame = self.with_customer(frame, "browse:customer", "session_idx", "start_ms", "_customer")
        anonymous = f"{self.u('browse:anonymous', 'session_idx')} < {ANONYMOUS_SHARE!r}D"
        frame = stage(frame, customer_id=f"CASE WHEN NOT ({anonymous}) THEN {self.customer_id('_customer')} END")
        frame = self.with_session(frame.drop("_customer"), "browse:session", "session_idx")
        frame = frame.selectExpr("*", "explode(sequence(0, events - 1)) AS pos")
        abandoned = f"pos = events - 1 AND pos > 0 AND {self.u('browse:abandon', 'session_idx')} < 0.15D"
        frame = stage(frame, _abandoned=abandoned)
        # An abandoned cart holds the product viewed just before.
        viewed = "greatest(pos - CASE WHEN _abandoned THEN 1 ELSE 0 END, 1)"
        product = self.popular_product("browse:product", "session_idx", viewed)
        frame = stage(
            frame,
            _product=f"CASE WHEN pos > 0 THEN {self.product_id(product)} END",
            _landing=self.landing_url("browse:landing", "session_idx"),
        )
        event_type = case(
            ("_abandoned", "'add_to_cart'"),
            ("pos > 0", "'product_view'"),
            ("_landing LIKE '%/search%'", "'search'"),
            otherwise="'page_view'",
        )
        url = f"CASE WHEN pos > 0 THEN concat('{SHOP_URL}/p/', _product) ELSE _landing END"
        gap = f"CAST(15000.0D + {self.u('browse:gap', 'session_idx')} * 120000.0D AS BIGINT)"
        return self.events_frame(frame, event_type, url, f"start_ms + CAST(pos AS BIGINT) * {gap}")

    def landing_url(self, name: str, key: str) -> str:
        """Where a session starts: the home page, a category page or a search."""
        slugs = sql_literal([slug(c[0]) for c in CATEGORIES])
        terms = sql_literal(sorted({n.lower().replace(" ", "+") for _, _, nouns, _ in SUBCATEGORIES for n in nouns}))
        draw = self.u(name, key)
        return case(
            (f"{draw} < 0.4D", f"'{SHOP_URL}/'"),
            (f"{draw} < 0.75D", f"concat('{SHOP_URL}/c/', {self.choice(slugs, name + ':category', key)})"),
            otherwise=f"concat('{SHOP_URL}/search?q=', {self.choice(terms, name + ':term', key)})",
        )

    def events(self, spark: SparkSession, base: DataFrame) -> DataFrame:
        """Checkout and browsing events together; small data goes through one task (one file per date partition)."""
        frame = self.checkout_events(base).unionByName(self.browse_events(spark))
        p = self.plan
        current = sum(min(p.days * 24, partitions_for(spark, n)) for n in (p.orders, p.browse_sessions))
        wanted = partitions_for(spark, p.orders * 5)  # about five events per order, as the funnels above produce
        return frame.coalesce(wanted) if wanted < current else frame

    @staticmethod
    def events_frame(frame: DataFrame, event_type: str, url: str, event_ms: str) -> DataFrame:
        """The clickstream columns in schema order; an event's id is its session's id and its position in it."""
        frame = stage(frame, _event_ms=event_ms)
        columns = {
            "event_id": "concat(session_id, '-', lpad(CAST(pos AS STRING), 2, '0'))",
            "session_id": "session_id",
            "customer_id": "customer_id",
            "event_type": event_type,
            "page_url": url,
            "product_id": "_product",
            "event_ts": "timestamp_millis(_event_ms)",
            "user_agent": "user_agent",
            "ip_address": "ip_address",
            "event_date": f"date_from_unix_date(CAST(floor(_event_ms / {DAY_MS}) AS INT))",
        }
        return frame.selectExpr(*shape(USER_EVENTS, columns, "CAST(NULL AS STRING) AS _bad"))


# Columns with (nearly) a distinct value per row: Parquet would build a dictionary, overflow it and fall back to plain
# encoding, which costs time for nothing. Low-cardinality columns keep their dictionaries.
PLAIN_COLUMNS: dict[str, tuple[str, ...]] = {
    CUSTOMERS.path: ("customer_id", "email", "phone", "street_address", "created_at", "updated_at"),
    PRODUCTS.path: (),
    ORDERS.path: ("order_id", "customer_id", "order_ts", "ip_address", "session_id"),
    ORDER_ITEMS.path: ("order_id",),
    USER_EVENTS.path: ("event_id", "session_id", "customer_id", "page_url", "event_ts", "ip_address"),
}
# HotSpot does not compile methods over 8,000 bytes of bytecode, and whole-stage code for these wide projections is
# bigger: at Spark's default limit (64 KB) it would run interpreted, ten times slower. Over 8,000 bytes Spark falls
# back to per-operator code, which it splits into small methods.
SESSION_SETTINGS = {"spark.sql.codegen.hugeMethodLimit": "8000"}


@contextmanager
def session_settings(spark: SparkSession, settings: dict[str, str]) -> Iterator[None]:
    """Apply SQL settings for the duration of a block, then restore what the session had."""
    previous: dict[str, str | None] = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, old in previous.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)


def write_dataset(
    frame: DataFrame, dataset: LakeDataset, lake_root: str, *, copies: bool = False
) -> tuple[int, dict[str, int]]:
    """Write one dataset (overwriting it whole) and return its row count and bad rows per kind, counted on the way."""
    observation = Observation()
    metrics = [F.count(F.lit(1)).alias("rows")]
    for kind in BAD_KINDS:
        # A duplicated order counts once as a bad row: its second copy.
        is_bad = "_copy = 1" if copies and kind == "duplicate_id" else f"_bad = '{kind}'"
        metrics.append(F.expr(f"sum(CASE WHEN {is_bad} THEN 1 ELSE 0 END)").alias(kind))
    observed = frame.observe(observation, *metrics).drop("_bad", "_copy")
    # Static overwrite replaces the whole dataset, even where the session overwrites partitions dynamically.
    writer = observed.write.mode("overwrite").option("partitionOverwriteMode", "static")
    for column in PLAIN_COLUMNS.get(dataset.path, ()):
        writer = writer.option(f"parquet.enable.dictionary#{column}", "false")
    if dataset.partitioned_by:
        writer = writer.partitionBy(*dataset.partitioned_by)
    writer.parquet(dataset_uri(lake_root, dataset.path))
    values = observation.get
    return int(values["rows"]), {k: int(values[k] or 0) for k in BAD_KINDS if values[k]}


def file_stats(spark: SparkSession, uri: str) -> tuple[int, int]:
    """(data files, bytes) under a dataset's location, from Hadoop's content summary (local or S3)."""
    jvm: Any = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    summary = fs.getContentSummary(path)
    marker = 1 if fs.exists(jvm.org.apache.hadoop.fs.Path(uri + "/_SUCCESS")) else 0
    return int(summary.getFileCount()) - marker, int(summary.getLength())


def make_plan(
    *,
    orders: int,
    seed: int,
    bad_share: float = 0.02,
    customers: int | None = None,
    products: int | None = None,
    start: date | None = None,
    days: int = 365,
) -> Plan:
    """Validate the sizes and fill in defaults: a customer per three orders, a product per two hundred."""
    if orders < 1:
        raise ValueError("orders must be at least 1")
    if not 0.0 <= bad_share <= 0.5:
        raise ValueError("bad_share must be between 0 and 0.5")
    if days < 1:
        raise ValueError("days must be at least 1")
    customers = customers if customers is not None else max(20, orders // 3)
    products = products if products is not None else min(50_000, max(100, orders // 200))
    if customers < 1 or products < 1:
        raise ValueError("customers and products must be at least 1")
    return Plan(seed, orders, customers, products, bad_share, start or DEFAULT_START, days)


def write_lake(spark: SparkSession, lake_root: str, plan: Plan) -> GeneratedLake:
    """Generate and write the five raw datasets of a plan under a lake root."""
    began = time.monotonic()
    gen = Generator(plan)
    result = GeneratedLake(plan=plan)
    base = gen.order_base(spark)
    frames: list[tuple[LakeDataset, DataFrame, bool]] = [
        (CUSTOMERS, gen.customers(spark), False),
        (PRODUCTS, gen.products(spark), False),
        (ORDERS, gen.orders(base), True),
        (ORDER_ITEMS, gen.order_items(base), False),
        (USER_EVENTS, gen.events(spark, base), False),
    ]
    with session_settings(spark, SESSION_SETTINGS):
        for dataset, frame, copies in frames:
            rows, bad = write_dataset(frame, dataset, lake_root, copies=copies)
            result.rows[dataset.path] = rows
            for kind, count in bad.items():
                result.bad_rows[kind] = result.bad_rows.get(kind, 0) + count
            result.files[dataset.path] = file_stats(spark, dataset_uri(lake_root, dataset.path))
    result.bad_rows = {kind: result.bad_rows.get(kind, 0) for kind in BAD_KINDS}
    result.seconds = time.monotonic() - began
    return result


def generate_lake(
    spark: SparkSession,
    lake_root: str,
    *,
    orders: int,
    seed: int,
    bad_share: float = 0.02,
    customers: int | None = None,
    start: date | None = None,
    days: int = 365,
    products: int | None = None,
) -> dict[str, int]:
    """Write a synthetic lake under ``lake_root`` and return the row count of each dataset path."""
    plan = make_plan(
        orders=orders, seed=seed, bad_share=bad_share, customers=customers, products=products, start=start, days=days
    )
    return write_lake(spark, lake_root, plan).rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The generator's options; ``--out`` is another name for the harness's ``--lake``."""
    lake = next(action for action in parser._actions if action.dest == "lake")
    lake.option_strings = [*lake.option_strings, "--out"]
    parser._option_string_actions["--out"] = lake
    parser.add_argument("--rows", type=int, default=10_000, help="Number of orders (default 10,000).")
    parser.add_argument("--seed", type=int, default=42, help="Seed: the same seed writes the same data.")
    parser.add_argument("--customers", type=int, default=None, help="Customers (default: one per three orders).")
    parser.add_argument("--products", type=int, default=None, help="Catalogue size (default: one per 200 orders).")
    parser.add_argument("--bad-share", type=float, default=0.02, help="Share of deliberately bad rows (0.02).")
    parser.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START, help="First day (2025-01-01).")
    parser.add_argument("--days", type=int, default=365, help="Days in the window (365).")


def run(ctx: JobContext) -> JobResult:
    """Generate the lake under the job's root; lineage lists the five outputs with schema and statistics."""
    args = ctx.args
    plan = make_plan(
        orders=args.rows,
        seed=args.seed,
        bad_share=args.bad_share,
        customers=args.customers,
        products=args.products,
        start=args.start,
        days=args.days,
    )
    lake = write_lake(ctx.spark, ctx.lake, plan)
    outputs = []
    for dataset in (CUSTOMERS, PRODUCTS, ORDERS, ORDER_ITEMS, USER_EVENTS):
        namespace, name = lineage_pair(ctx.lake, dataset.path)
        files, size = lake.files[dataset.path]
        outputs.append(
            output_dataset(namespace, name, dataset.schema, rows=lake.rows[dataset.path], size=size, files=files)
        )
    summary = {
        "rows": lake.rows,
        "bad_rows": lake.bad_rows,
        "seed": plan.seed,
        "orders": plan.orders,
        "customers": plan.customers,
        "products": plan.products,
        "bad_share": plan.bad_share,
        "start": plan.start.isoformat(),
        "days": plan.days,
        "seconds": round(lake.seconds, 1),
    }
    return JobResult(outputs=outputs, summary=summary)


if __name__ == "__main__":
    sys.exit(main(NAME, add_arguments, run))
