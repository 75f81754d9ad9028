/** The three raw datasets of the store: `raw/<dataset>/dt=<day>/`. */
export type Dataset = 'events' | 'messages' | 'people';
export const DATASETS: readonly Dataset[] = ['events', 'messages', 'people'];
