from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("trial", "0005_scheduleitem_admin_order"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="scheduleitem",
            index=models.Index(
                fields=["status", "planned_on", "kind", "key", "-id"],
                name="scheduleitem_admin_status",
            ),
        ),
        migrations.AddIndex(
            model_name="scheduleitem",
            index=models.Index(
                condition=models.Q(("held", True)),
                fields=["planned_on", "kind", "key", "-id"],
                name="scheduleitem_admin_held",
            ),
        ),
    ]
