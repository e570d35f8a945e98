from service.auth.passwords import hash_password, verify_password


def test_hash_and_verify():
    h1, h2 = hash_password("hunter2hunter2"), hash_password("hunter2hunter2")
    assert h1 != h2  # per-user salt
    assert verify_password("hunter2hunter2", h1)
    assert not verify_password("hunter2hunter3", h1)
    assert not verify_password("x", "garbage")
