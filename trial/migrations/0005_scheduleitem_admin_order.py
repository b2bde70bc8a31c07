from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("trial", "0004_dose_decision_adverse_event"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="scheduleitem",
            index=models.Index(
                fields=["planned_on", "kind", "key", "-id"], name="scheduleitem_admin_order"
            ),
        ),
    ]
