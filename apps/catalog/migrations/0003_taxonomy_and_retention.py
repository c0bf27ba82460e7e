"""Seed the privacy taxonomy (keys compatible with the fideslang default taxonomy, descriptions our own) and the
platform's retention policies. Rows that already exist are left as stewards edited them."""

from __future__ import annotations

from django.db import migrations

# (key, name, description); the parent is the key minus its last segment.
DATA_CATEGORIES = [
    ("user", "User data", "Anything about a person who uses or is served by the platform."),
    ("user.account", "Account", "What a person gave or was given when registering."),
    ("user.account.username", "Username", "The handle a person signs in with."),
    ("user.authorization", "Authorisation", "What lets a person into a system."),
    ("user.authorization.credentials", "Credentials", "Secrets or tokens that authenticate a person."),
    ("user.authorization.password", "Password", "A password or its hash."),
    ("user.behavior", "Observed behaviour", "What a person did, as recorded by our systems."),
    ("user.behavior.browsing_history", "Browsing history", "Pages and products a person looked at (clickstream)."),
    ("user.behavior.purchase_history", "Purchase history", "Orders, order lines and amounts a person bought."),
    ("user.behavior.search_history", "Search history", "What a person searched for."),
    ("user.behavior.media_consumption", "Media consumption", "Content a person watched, read or listened to."),
    ("user.biometrics", "Biometrics", "Measurements of a person's body used to recognise them."),
    ("user.children", "Children", "Data about people below the age of digital consent."),
    ("user.contact", "Contact data", "Ways to reach a person."),
    ("user.contact.email", "E-mail address", "A person's e-mail address."),
    ("user.contact.phone_number", "Phone number", "A person's landline or mobile number."),
    ("user.contact.fax_number", "Fax number", "A person's fax number."),
    ("user.contact.social_url", "Social profile", "Links to a person's websites or social media profiles."),
    ("user.contact.address", "Postal address", "Where a person lives or receives mail, in whole or part."),
    ("user.contact.address.street", "Street", "Street name and house number."),
    ("user.contact.address.city", "City", "The town or city of an address."),
    ("user.contact.address.state", "State or region", "The state, province or region of an address."),
    ("user.contact.address.postal_code", "Postal code", "The postcode or ZIP code of an address."),
    ("user.contact.address.country", "Country", "The country of an address."),
    ("user.content", "User content", "What a person wrote, uploaded or shared."),
    ("user.content.private", "Private content", "Content a person shared with us only (messages, reviews in draft)."),
    ("user.content.public", "Public content", "Content a person published (public reviews)."),
    ("user.demographic", "Demographics", "Traits describing who a person is."),
    ("user.demographic.date_of_birth", "Date of birth", "The day a person was born."),
    ("user.demographic.age_range", "Age range", "An age band rather than an exact age."),
    ("user.demographic.gender", "Gender", "A person's gender."),
    ("user.demographic.language", "Language", "The language a person prefers."),
    ("user.demographic.profile", "Profile", "Preferences and interests a person stated or we inferred."),
    ("user.demographic.race_ethnicity", "Race or ethnicity", "Special category data under GDPR Article 9."),
    ("user.demographic.religious_belief", "Religious belief", "Special category data under GDPR Article 9."),
    ("user.demographic.political_opinion", "Political opinion", "Special category data under GDPR Article 9."),
    ("user.demographic.sexual_orientation", "Sexual orientation", "Special category data under GDPR Article 9."),
    ("user.device", "Device data", "The devices and connections a person uses."),
    ("user.device.cookie", "Cookie", "Data stored in a cookie on a person's browser."),
    ("user.device.cookie_id", "Cookie id", "An identifier kept in a cookie (session or tracking id)."),
    ("user.device.device_id", "Device id", "An identifier of a phone, tablet or computer."),
    ("user.device.ip_address", "IP address", "The network address a person connected from."),
    ("user.device.telemetry", "Telemetry", "Measurements a device reports (user agent, screen, app version)."),
    ("user.financial", "Financial data", "Means of payment and money matters of a person."),
    ("user.financial.bank_account", "Bank account", "An IBAN or other account number."),
    ("user.financial.credit_card", "Payment card", "A payment card number or its parts."),
    ("user.government_id", "Government id", "Numbers a state issued to a person."),
    ("user.government_id.national_identification_number", "National id", "Social security or national id number."),
    ("user.government_id.passport_number", "Passport number", "The number of a passport."),
    ("user.government_id.drivers_license_number", "Driving licence number", "The number of a driving licence."),
    ("user.health", "Health data", "Special category data about a person's physical or mental health."),
    ("user.location", "Location", "Where a person is or was."),
    ("user.location.coarse", "Coarse location", "A location known to within more than about 500 metres."),
    ("user.location.precise", "Precise location", "A location known to within about 500 metres or better."),
    ("user.name", "Name", "A person's name, whole or in part."),
    ("user.name.first", "First name", "Given name."),
    ("user.name.last", "Last name", "Family name."),
    ("user.payment", "Payment data", "How a person paid (method, status), without card numbers."),
    ("user.privacy_preferences", "Privacy preferences", "Consents, opt-ins and opt-outs a person gave."),
    ("user.unique_id", "Unique id", "An identifier our systems gave a person (customer id)."),
    ("user.unique_id.pseudonymous", "Pseudonymous id", "An identifier that names a person only with a lookup table."),
    ("user.criminal_history", "Criminal history", "Records of offences; restricted by law."),
    ("user.professional_information", "Professional information", "Job title, employer and work history."),
    ("system", "System data", "Data our systems produce about themselves, not about people."),
    ("system.authentication", "Authentication data", "Keys, tokens and settings that control system access."),
    ("system.operations", "Operations data", "Logs, metrics, configuration and catalogue facts (products, prices)."),
]

DATA_USES = [
    ("analytics", "Analytics", "Understanding how the business and its services perform."),
    ("analytics.reporting", "Reporting", "Dashboards and reports built from aggregated data."),
    ("analytics.reporting.ad_performance", "Advertising performance", "Measuring how campaigns perform."),
    ("analytics.reporting.content_performance", "Content performance", "Measuring how pages and products perform."),
    ("analytics.reporting.campaign_insights", "Campaign insights", "Learning from past campaigns to plan new ones."),
    ("analytics.reporting.system", "System reporting", "Reports about the platform's own health."),
    ("collect", "Collection", "Gathering data to build or improve a product."),
    ("employment", "Employment", "Managing our own staff."),
    ("employment.recruitment", "Recruitment", "Hiring new staff."),
    ("essential", "Essential", "Processing without which the service cannot be provided."),
    ("essential.fraud_detection", "Fraud detection", "Detecting and preventing fraudulent orders and accounts."),
    ("essential.legal_obligation", "Legal obligation", "Processing the law requires (tax records, requests)."),
    ("essential.service", "Service delivery", "Running the shop a customer asked us to provide."),
    ("essential.service.authentication", "Authentication", "Signing people in and keeping accounts safe."),
    ("essential.service.notifications", "Service notifications", "Order confirmations and delivery notices."),
    ("essential.service.operations", "Operations", "Keeping the platform running."),
    ("essential.service.operations.support", "Customer support", "Answering questions and resolving problems."),
    ("essential.service.payment_processing", "Payment processing", "Taking payments and issuing refunds."),
    ("essential.service.security", "Security", "Protecting systems and data from misuse."),
    ("finance", "Finance", "Accounting, invoicing and financial planning."),
    ("functional", "Functional", "Features that are not essential but make the service work better."),
    ("functional.service", "Functional service", "Optional features of the service a person chose to use."),
    ("functional.service.improve", "Service improvement", "Improving the service from how it is used."),
    ("functional.storage", "Local storage", "Remembering choices on a person's device."),
    ("marketing", "Marketing", "Promoting our products."),
    ("marketing.advertising", "Advertising", "Showing advertisements."),
    ("marketing.advertising.first_party", "First-party advertising", "Advertising on our own channels."),
    (
        "marketing.advertising.first_party.contextual",
        "Contextual advertising",
        "Advertising chosen from the page being viewed, not from the person.",
    ),
    (
        "marketing.advertising.first_party.targeted",
        "Targeted advertising",
        "Advertising chosen from what we know about the person (segments such as RFM).",
    ),
    ("marketing.advertising.third_party", "Third-party advertising", "Advertising through partners' channels."),
    (
        "marketing.advertising.third_party.targeted",
        "Third-party targeted advertising",
        "Partners choosing advertisements from data we share.",
    ),
    ("marketing.advertising.profiling", "Profiling", "Building profiles of people to predict their interests."),
    ("marketing.communications", "Marketing communications", "Newsletters and offers sent to people."),
    ("marketing.communications.email", "E-mail marketing", "Offers by e-mail (needs an opt-in)."),
    ("marketing.communications.sms", "SMS marketing", "Offers by text message (needs an opt-in)."),
    ("personalize", "Personalisation", "Tailoring the service to a person."),
    ("personalize.content", "Personalised content", "Recommendations and tailored pages."),
    ("personalize.system", "System personalisation", "Remembering settings and preferences."),
    ("third_party_sharing", "Third-party sharing", "Giving data to another organisation."),
    ("third_party_sharing.legal_obligation", "Sharing by law", "Disclosures the law requires (authorities)."),
    ("train_ai_system", "Training models", "Training machine-learning models such as fraud scoring."),
]

DATA_SUBJECTS = [
    ("anonymous_user", "Anonymous user", "Someone using the service without being identified."),
    ("customer", "Customer", "Someone who has an account or bought from the shop."),
    ("visitor", "Visitor", "Someone browsing the shop, signed in or not."),
    ("prospect", "Prospect", "Someone marketing hopes to win as a customer."),
    ("employee", "Employee", "Someone who works for us."),
    ("job_applicant", "Job applicant", "Someone who applied to work for us."),
    ("consultant", "Consultant", "Someone working for us under a service contract."),
    ("supplier_vendor", "Supplier or vendor", "A contact person at a supplier, brand or carrier."),
    ("shareholder", "Shareholder", "Someone who holds shares in the company."),
    ("next_of_kin", "Next of kin", "A relative or emergency contact of another subject."),
]

# From the platform's retention facts: customer data and transactions 7 years, analytics 3 years, logs 1 year.
RETENTION_POLICIES = [
    ("customer-data", 2555, "anonymise", "Customer master data: kept 7 years (2,555 days), then anonymised."),
    ("transactions", 2555, "delete", "Orders, order lines and payments: kept 7 years (2,555 days) for tax law."),
    ("analytics", 1095, "delete", "Derived analytics (segments, aggregates, clickstream): kept 3 years."),
    ("logs", 365, "delete", "Operational logs and raw events: kept 1 year."),
]


def _parent(key: str) -> str:
    return key.rpartition(".")[0]


def install(apps, schema_editor):
    for model_name, rows in (
        ("DataCategory", DATA_CATEGORIES),
        ("DataUse", DATA_USES),
        ("DataSubjectType", DATA_SUBJECTS),
    ):
        model = apps.get_model("catalog", model_name)
        existing = set(model.objects.values_list("key", flat=True))
        model.objects.bulk_create(
            [
                model(key=key, name=name, description=description, parent_key=_parent(key))
                for key, name, description in rows
                if key not in existing
            ]
        )
    policy = apps.get_model("catalog", "RetentionPolicy")
    for name, days, action, description in RETENTION_POLICIES:
        policy.objects.get_or_create(name=name, defaults={"days": days, "action": action, "description": description})


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_discovery_state")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
