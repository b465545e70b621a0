-- GET with the Authorization header from $AUTHORIZATION on every request.
wrk.headers["Authorization"] = os.getenv("AUTHORIZATION")
