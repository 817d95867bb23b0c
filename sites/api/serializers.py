from rest_framework import serializers

from sites.models import Bank, Battery, BatteryModel, Site


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = [
            "id",
            "name",
            "slug",
            "time_zone",
            "address",
            "latitude",
            "longitude",
            "contact_name",
            "contact_email",
            "contact_phone",
        ]


class BatteryModelSerializer(serializers.ModelSerializer):
    measuring_ranges = serializers.SerializerMethodField()

    class Meta:
        model = BatteryModel
        fields = [
            "id",
            "manufacturer",
            "model",
            "chemistry",
            "nominal_voltage",
            "capacity_ah",
            "unit_type",
            "float_voltage",
            "measuring_ranges",
        ]

    def get_measuring_ranges(self, obj: BatteryModel) -> dict[str, list[float]]:
        return {name: [r.low, r.high] for name, r in obj.measuring_ranges.items()}


class BankSerializer(serializers.ModelSerializer):
    site_slug = serializers.CharField(source="site.slug", read_only=True)

    class Meta:
        model = Bank
        fields = [
            "id",
            "site",
            "site_slug",
            "name",
            "bus",
            "cmu_address",
            "battery_model",
            "nominal_voltage",
            "float_voltage",
            "positions",
        ]


class BatterySerializer(serializers.ModelSerializer):
    site = serializers.IntegerField(source="bank.site_id", read_only=True)
    unit_type = serializers.CharField(source="model.unit_type", read_only=True)

    class Meta:
        model = Battery
        fields = [
            "id",
            "site",
            "bank",
            "position",
            "model",
            "unit_type",
            "bus",
            "bmu_address",
            "serial",
            "install_date",
            "dcr_baseline_mohm",
            "dcr_baseline_set_at",
            "status",
        ]
