from service.config import load_settings, setting_names


def test_defaults_match_design():
    s = load_settings({}, dotenv=None)
    assert s.api_port == 8000 and s.allow_signup is True
    assert s.small_upload_max_bytes == 104857600 and s.max_file_bytes == 53687091200
    assert s.upload_ttl_seconds == 86400 and s.presign_ttl_seconds == 3600
    assert s.sweep_interval_seconds == 60 and s.cold_after_seconds == 2592000
    assert s.tiering_interval_seconds == 3600


def test_environment_overrides_dotenv(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("MYBOX_API_PORT=9001\nMYBOX_ALLOW_SIGNUP='false'\n# comment\nMYBOX_S3_BUCKET=b1\n")
    s = load_settings({"MYBOX_S3_BUCKET": "b2"}, dotenv=env_file)
    assert s.api_port == 9001 and s.allow_signup is False and s.s3_bucket == "b2"


def test_bad_value_is_a_clear_error():
    try:
        load_settings({"MYBOX_API_PORT": "eighty"}, dotenv=None)
    except SystemExit as exc:
        assert "api_port" in str(exc)
    else:
        raise AssertionError("expected a settings error")


def test_setting_names():
    names = setting_names()
    assert "MYBOX_UPLOAD_TTL_SECONDS" in names and "MYBOX_S3_PUBLIC_ENDPOINT" in names
