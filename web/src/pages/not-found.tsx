export function NotFoundPage() {
  return (
    <section>
      <h1>No such page</h1>
      <p>This address shows nothing. <a href="#/functions">Go to the functions</a>.</p>
    </section>
  );
}
