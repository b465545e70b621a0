-- POST /api/tokens with the password in Basic ($AUTHORIZATION): one scrypt
-- verification per request.
wrk.method = "POST"
wrk.path = "/api/tokens"
wrk.headers["Authorization"] = os.getenv("AUTHORIZATION")
