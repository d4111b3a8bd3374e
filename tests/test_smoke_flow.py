def test_sign_up_then_sign_in(api, authenticator):
    r = api.sign_up(authenticator)
    assert r.status_code == 201, r.get_json()
    me = api.get("/api/me")
    assert me.status_code == 200, me.get_json()
    r = api.post("/api/logout")
    assert r.status_code == 204
    assert api.get("/api/me").status_code == 401
    r = api.sign_in(authenticator)
    assert r.status_code == 200, r.get_json()
    r = api.sign_in(authenticator, username=None)
    assert r.status_code == 200, r.get_json()
