import { ConnectionIndicator } from "../components/ConnectionIndicator";
import { TokenBanner } from "../components/TokenBanner";
import { DashboardPage } from "../features/dashboard/components/DashboardPage";
import { ExperimentsPage } from "../features/experiments/components/ExperimentsPage";
import { NewTaskPage } from "../features/new-task/components/NewTaskPage";
import { TasksPage } from "../features/tasks/components/TasksPage";
import { TasksFeedContext, useTasksFeed } from "../hooks/useTasksFeed";
import { href, useRoute, type Route } from "./router";

function NavLink({ to, current, children }: { to: Route; current: Route["name"][]; children: string }) {
  const active = current.includes(to.name);
  return (
    <a className={`nav-link${active ? " active" : ""}`} href={href(to)} aria-current={active ? "page" : undefined}>
      {children}
    </a>
  );
}

/** The shell: sidebar navigation, the app-wide live task feed, and the routed page. */
export function App() {
  const route = useRoute();
  const feed = useTasksFeed();
  const current: Route["name"][] = [route.name];
  if (route.name === "experiments") current.push("tasks");

  let page;
  switch (route.name) {
    case "tasks":
      page = <TasksPage />;
      break;
    case "new-task":
      page = <NewTaskPage />;
      break;
    case "experiments":
      page = <ExperimentsPage key={route.taskId} taskId={route.taskId} />;
      break;
    case "dashboard":
      page = <DashboardPage />;
      break;
    default:
      page = (
        <div className="page">
          <h1>Not found</h1>
          <p>
            Nothing at <code>{route.path}</code>. <a href={href({ name: "tasks" })}>Go to the tasks</a>.
          </p>
        </div>
      );
  }

  return (
    <TasksFeedContext.Provider value={feed}>
      <div className="shell">
        <aside className="sidebar">
          <a className="brand" href={href({ name: "tasks" })}>
            <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
              <rect width="24" height="24" rx="6" fill="#3b82f6" />
              <path
                d="M5 16l4-5 3.5 3 6.5-7"
                stroke="#fff"
                strokeWidth="2.2"
                fill="none"
                strokeLinecap="round"
                strokeLinejoin="round"
              />
            </svg>
            <span>autotuner</span>
          </a>
          <nav className="nav">
            <NavLink to={{ name: "tasks" }} current={current}>
              Tasks
            </NavLink>
            <NavLink to={{ name: "new-task" }} current={current}>
              New task
            </NavLink>
            <NavLink to={{ name: "dashboard" }} current={current}>
              Dashboard
            </NavLink>
          </nav>
          <div className="sidebar-foot">
            <div className="muted small">Live updates</div>
            <ConnectionIndicator {...feed} label="task feed" onRetry={feed.connect} />
            <a className="muted small" href="/docs" target="_blank" rel="noreferrer">
              API docs
            </a>
          </div>
        </aside>
        <main className="main">
          <TokenBanner />
          {page}
        </main>
      </div>
    </TasksFeedContext.Provider>
  );
}
