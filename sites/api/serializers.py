"""What the API shows of the fleet (read-only except gateways, which admins create)."""

from rest_framework import serializers

from sites.models import Bank, Battery, BatteryModel, Gateway, Site


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


class GatewaySerializer(serializers.ModelSerializer):
    """A gateway as admins see it; its token is never shown again after creation or rotation."""

    site_slug = serializers.CharField(source="site.slug", read_only=True)
    revoked = serializers.SerializerMethodField()

    class Meta:
        model = Gateway
        fields = [
            "id",
            "site",
            "site_slug",
            "name",
            "token_prefix",
            "token_created_at",
            "revoked",
            "revoked_at",
            "last_seen_at",
            "scan_interval_s",
            "heartbeat_s",
            "dcr_interval_h",
        ]
        read_only_fields = fields

    def get_revoked(self, obj: Gateway) -> bool:
        return obj.revoked_at is not None


class GatewayCreateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Gateway
        fields = ["site", "name", "scan_interval_s", "heartbeat_s", "dcr_interval_h"]


class GatewayTokenSerializer(GatewaySerializer):
    token = serializers.CharField(read_only=True, help_text="The gateway token, shown this once.")

    class Meta(GatewaySerializer.Meta):
        fields = [*GatewaySerializer.Meta.fields, "token"]
        read_only_fields = fields
