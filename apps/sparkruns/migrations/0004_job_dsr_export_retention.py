from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sparkruns", "0003_job_dsr_erase"),
    ]

    operations = [
        migrations.AlterField(
            model_name="sparkrun",
            name="job",
            field=models.CharField(
                choices=[
                    ("generate", "Generate a synthetic lake"),
                    ("validate", "Validate raw data into curated and quarantine"),
                    ("rfm", "RFM segmentation"),
                    ("profile", "Profile datasets"),
                    ("pii_scan", "Scan for personal data"),
                    ("quality_scan", "Evaluate data-quality rules"),
                    ("dsr_erase", "Erase data subjects (delete or anonymise, file by file)"),
                    ("dsr_export", "Export data subjects' rows (access and portability packages)"),
                    ("retention", "Apply retention policies (dry run or delete/anonymise expired rows)"),
                ],
                max_length=30,
            ),
        ),
    ]
