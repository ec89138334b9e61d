"""`mlops jenkins register|trigger`: create or update the Jenkins job, start it with parameters.

Connection: --url / $JENKINS_URL, --user / $JENKINS_USER, API token in $JENKINS_TOKEN (or
the variable --token-env names); the token is never taken from the command line.
"""

from __future__ import annotations

NAME = "jenkins"
HELP = "register the Jenkins job for this repository's Jenkinsfile, or trigger it"


def _connection(parser) -> None:
    parser.add_argument("--url", default=None, help="Jenkins URL (default: $JENKINS_URL)")
    parser.add_argument("--user", default=None, help="Jenkins user (default: $JENKINS_USER)")
    parser.add_argument("--token-env", default="JENKINS_TOKEN",
                        help="variable holding the user's API token (default: JENKINS_TOKEN)")
    parser.add_argument("--job", default="portable-mlops", help="job name, folder/name for a "
                        "job in a folder (default: portable-mlops)")


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="jenkins_command", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("register", help="create the job, or update it when it exists")
    _connection(p)
    p.add_argument("--repository", required=True, help="git URL Jenkins clones")
    p.add_argument("--kind", choices=("multibranch", "pipeline"), default="multibranch",
                   help="multibranch (one job per branch and tag; default) or a single "
                   "pipeline job on --branch")
    p.add_argument("--branch", default="main", help="branch of a pipeline job (default: main)")
    p.add_argument("--credentials-id", default=None,
                   help="Jenkins credentials id for cloning the repository")
    p.add_argument("--print-config", action="store_true",
                   help="print the config.xml instead of sending it")

    p = sub.add_parser("trigger", help="start the job with parameters")
    _connection(p)
    p.add_argument("--branch", default=None,
                   help="multibranch job: the branch or tag job to start (job/BRANCH)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="build parameter, e.g. TARGET_ENV=dev (repeatable)")
    p.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                   help="wait up to SECONDS for the build to leave the queue")


def _params(pairs: list[str]) -> dict[str, str]:
    from framework.core.errors import UserError

    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UserError(f"--param {pair!r}: expected NAME=VALUE")
        out[name] = value
    return out


def run(args) -> int:
    from framework.ci.jenkins_job import JobSpec, config_xml, connect, register, trigger

    if args.jenkins_command == "register":
        spec = JobSpec(name=args.job, repository=args.repository, kind=args.kind,
                       branch=args.branch, credentials_id=args.credentials_id)
        if args.print_config:
            print(config_xml(spec), end="")
            return 0
        server = connect(args.url, args.user, args.token_env)
        action = register(server, spec)
        print(f"{action} {spec.kind} job {spec.name} ({spec.repository}, Jenkinsfile)")
        return 0
    params = _params(args.param)
    job = f"{args.job}/{args.branch}" if args.branch else args.job
    server = connect(args.url, args.user, args.token_env)
    info = trigger(server, job, params, wait_seconds=args.wait)
    shown = " ".join(f"{k}={v}" for k, v in params.items()) or "no parameters"
    where = (f"build #{info['build_number']} {info['url'] or ''}".strip()
             if info["build_number"] is not None else f"queue item {info['queue_id']}")
    print(f"triggered {job} ({shown}): {where}")
    return 0
